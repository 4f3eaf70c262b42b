"""Geometry round trips through files: write -> read_image -> segment_array -> write -> read back.

For every signed axis permutation (48) and one oblique direction, in NRRD, NIfTI and DICOM, an
asymmetric marker volume is written by SimpleITK/pydicom, read with ``read_image``, segmented with
the threshold stand-in, written as ``.seg.nrrd`` or a labelmap, and read back by independent
readers (slicerio, SimpleITK). The marker must land on exactly the same voxels and its centroid
in world (LPS) coordinates must not move (guarantees G1-G5, G10).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from io_test_helpers import (ThresholdPredictor, geometry_for, make_card, marker_array, rotation, signed_permutations,
                             sitk_image, world_centroid, write_dicom_series)

from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io import read_image, write_segmentation
from SDSegLogic.segment import segment_array

DIRECTIONS = {f"perm{n:02d}": d for n, d in enumerate(signed_permutations())}
DIRECTIONS["oblique"] = rotation(30, 10)
CARD = make_card(orientation="LPS")


def _segment(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return segment_array(data.array, data.geometry, ThresholdPredictor(CARD, 32), batch_size=4)


def _check_slicerio(path, labels: np.ndarray, geometry: ImageGeometry) -> None:
    import slicerio

    seg = slicerio.read_segmentation(str(path))
    assert [(s["name"], s["labelValue"]) for s in seg["segments"]] == [("liver", 1)]
    np.testing.assert_allclose(seg["ijkToLPS"], geometry.ijk_to_lps(), atol=1e-9)
    assert np.array_equal(np.transpose(seg["voxels"], (2, 1, 0)), labels)


def _check_sitk(path, labels: np.ndarray, geometry: ImageGeometry) -> None:
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    assert np.array_equal(sitk.GetArrayFromImage(image), labels)
    k, j, i = np.argwhere(labels > 0)[0]
    np.testing.assert_allclose(image.TransformIndexToPhysicalPoint((int(i), int(j), int(k))),
                               geometry.index_to_world([i, j, k]), atol=1e-3)


def _round_trip(tmp_path, ext: str, direction: np.ndarray, out_name: str) -> None:
    import SimpleITK as sitk

    truth = marker_array()
    g = geometry_for(direction)
    source = tmp_path / f"input.{ext}"
    sitk.WriteImage(sitk_image(truth, g), str(source))
    data = read_image(source)
    assert np.array_equal(data.array, truth)
    g.require_same(data.geometry, spacing_rtol=1e-6, direction_atol=1e-6, origin_atol=1e-4)
    result = _segment(data)
    assert result.geometry is data.geometry
    assert np.array_equal(result.labels, (truth > 0).astype(np.uint8)), "voxels moved"
    np.testing.assert_allclose(world_centroid(result.labels, result.geometry), world_centroid(truth, g), atol=1e-3)
    out = write_segmentation(tmp_path / out_name, result, CARD, input_path=source)
    _check_sitk(out, result.labels, data.geometry)
    if out_name.endswith(".seg.nrrd"):
        _check_slicerio(out, result.labels, data.geometry)
    else:
        back = read_image(out)
        assert np.array_equal(back.array, result.labels)
        data.geometry.require_same(back.geometry)
        np.testing.assert_allclose(world_centroid(back.array, back.geometry), world_centroid(truth, g), atol=1e-3)


@pytest.mark.parametrize("name", sorted(DIRECTIONS))
def test_nrrd_round_trip(tmp_path, name):
    _round_trip(tmp_path, "nrrd", DIRECTIONS[name], "out.seg.nrrd")


@pytest.mark.parametrize("name", sorted(DIRECTIONS))
def test_nifti_round_trip(tmp_path, name):
    _round_trip(tmp_path, "nii.gz", DIRECTIONS[name], "labels.nii.gz")


@pytest.mark.parametrize("name", sorted(DIRECTIONS))
def test_dicom_round_trip(tmp_path, name):
    """DICOM stores only row/column cosines and positions, so a left-handed input comes back with k
    reversed: compare in world coordinates and on the grid the reader returns."""
    truth = marker_array()
    g = geometry_for(DIRECTIONS[name])
    folder = tmp_path / "series"
    folder.mkdir()
    write_dicom_series(folder, truth, g)
    data = read_image(folder)
    np.testing.assert_allclose(world_centroid(data.array > 0, data.geometry), world_centroid(truth, g), atol=1e-3)
    result = _segment(data)
    assert np.array_equal(result.labels, (data.array > 0).astype(np.uint8))
    out = write_segmentation(tmp_path / "out.seg.nrrd", result, CARD)
    _check_slicerio(out, result.labels, data.geometry)
    _check_sitk(out, result.labels, data.geometry)
    labelled = {tuple(np.round(p, 3)) for p in _world_points(result.labels, data.geometry)}
    assert labelled == {tuple(np.round(p, 3)) for p in _world_points(truth > 0, g)}


def _world_points(mask: np.ndarray, geometry: ImageGeometry) -> np.ndarray:
    k, j, i = np.nonzero(mask)
    return geometry.index_to_world(np.stack([i, j, k], axis=1).astype(float)) + 0.0
