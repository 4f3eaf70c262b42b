"""NRRD files without ``space directions`` are placed where SimpleITK (and so 3D Slicer) places them.

ITK's NrrdImageIO takes the origin of such a file from its ``space origin`` (when a ``space`` is
declared) or from its ``axis mins`` (the first voxel's centre: ``min + spacing / 2`` for cell
centring, the default, ``min`` for node centring; the spacing from ``spacings`` or from
``(max - min) / size``). The engine read both at the origin (0, 0, 0), so the mask it wrote landed
millimetres away from the image it was computed on.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from io_test_helpers import ThresholdPredictor, make_card

from SDSegLogic.io import read_image, write_segmentation
from SDSegLogic.segment import segment_array

_BASE = ["type: short", "dimension: 3", "sizes: 6 5 4", "endian: little", "encoding: raw"]
_VOLUME = np.where(np.arange(4 * 5 * 6).reshape(4, 5, 6) % 7 == 0, 2000, -1000).astype(np.int16)  # (K, J, I)


def _write_nrrd(path, lines, volume=_VOLUME):
    """A raw NRRD file with ``lines`` as its header fields and ``volume`` (K, J, I) int16 as its data."""
    path.write_bytes(("NRRD0004\n" + "\n".join(lines) + "\n\n").encode() + volume.astype("<i2").tobytes())
    return path


def _sitk_ijk_to_lps(path) -> np.ndarray:
    """(4, 4) IJK -> LPS of SimpleITK's reading of ``path`` (2-D: k = identity, z = 0; 4-D: its x, y, z)."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    dim = image.GetDimension()
    used = min(dim, 3)
    direction = np.eye(3)
    direction[:used, :used] = np.reshape(image.GetDirection(), (dim, dim))[:used, :used]
    spacing = list(image.GetSpacing())[:used] + [1.0] * (3 - used)
    origin = list(image.GetOrigin())[:used] + [0.0] * (3 - used)
    matrix = np.eye(4)
    matrix[:3, :3] = direction * np.asarray(spacing)
    matrix[:3, 3] = origin
    return matrix


def _read_quietly(path):
    return _read_quietly_frame(path, None)


def _read_quietly_frame(path, frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no 'space directions'": the assumption is the subject here
        return read_image(path, frame=frame)


@pytest.mark.parametrize("fields", [
    ["spacings: 0.5 0.75 2", "axis mins: 10 20 30"],                                     # cell centring by default
    ["spacings: 0.5 0.75 2", "axis mins: 10 20 30", "centers: cell cell cell"],
    ["spacings: 0.5 0.75 2", "axis mins: 10 20 30", "centers: node node node"],
    ["axis mins: 10 20 30", "axis maxs: 13 25 38", "centers: cell cell cell"],          # spacing 1, origin from maxs
    ["axis mins: 10 20 30", "axis maxs: 15 24 33", "centers: node node node"],
    ["spacings: -0.5 0.75 2", "axis mins: 10 20 30"],                                    # a backwards axis
    ["spacings: 0.5 NaN 2", "axis mins: 10 20 30", "axis maxs: NaN 25 NaN", "centers: cell node ???"],
], ids=["mins", "mins-cell", "mins-node", "mins-maxs-cell", "mins-maxs-node", "negative-spacing", "mixed"])
def test_nrrd_without_directions_is_placed_at_its_axis_mins_like_simpleitk(tmp_path, fields):
    path = _write_nrrd(tmp_path / "axis mins.nrrd", _BASE + fields)
    data = _read_quietly(path)
    np.testing.assert_allclose(data.geometry.ijk_to_lps(), _sitk_ijk_to_lps(path), atol=1e-9)
    assert np.array_equal(data.array, _VOLUME.astype(np.float32))


def test_nrrd_without_axis_min_on_every_axis_stays_at_the_origin_like_simpleitk(tmp_path):
    path = _write_nrrd(tmp_path / "no max.nrrd", _BASE + ["axis mins: 10 20 30"])  # no spacing, no max: no origin
    np.testing.assert_allclose(_read_quietly(path).geometry.ijk_to_lps(), _sitk_ijk_to_lps(path), atol=1e-9)


def test_two_d_nrrd_without_directions_is_placed_at_its_axis_mins_like_simpleitk(tmp_path):
    lines = ["type: short", "dimension: 2", "sizes: 6 5", "endian: little", "encoding: raw", "spacings: 0.5 0.75",
             "axis mins: 4 5"]
    path = _write_nrrd(tmp_path / "plane.nrrd", lines, _VOLUME[0])
    data = _read_quietly(path)
    np.testing.assert_allclose(data.geometry.ijk_to_lps(), _sitk_ijk_to_lps(path), atol=1e-9)
    assert data.metadata["is_2d"] and np.array_equal(data.array[0], _VOLUME[0].astype(np.float32))


def test_four_d_nrrd_without_a_min_on_its_time_axis_is_placed_like_simpleitk(tmp_path):
    """ITK (teem) asks a min of the first axis only; the time axis without one still leaves x, y, z placed."""
    frames = np.stack([_VOLUME, -_VOLUME, _VOLUME // 2], axis=0)  # (T, K, J, I)
    lines = ["type: short", "dimension: 4", "sizes: 6 5 4 3", "endian: little", "encoding: raw",
             "kinds: domain domain domain time", "spacings: 0.5 0.75 2 1", "axis mins: 10 20 30 NaN"]
    path = _write_nrrd(tmp_path / "cine.nrrd", lines, frames)
    data = _read_quietly_frame(path, 1)
    np.testing.assert_allclose(data.geometry.ijk_to_lps(), _sitk_ijk_to_lps(path), atol=1e-9)
    assert np.array_equal(data.array, frames[1].astype(np.float32))


@pytest.mark.parametrize("space", ["left-posterior-superior", "right-anterior-superior", "left-anterior-superior"])
def test_nrrd_with_a_space_origin_but_no_directions_keeps_its_origin_like_simpleitk(tmp_path, space):
    path = _write_nrrd(tmp_path / "origin only.nrrd", _BASE + [f"space: {space}", "space origin: (1.5,-2.25,3)"])
    data = _read_quietly(path)
    np.testing.assert_allclose(data.geometry.ijk_to_lps(), _sitk_ijk_to_lps(path), atol=1e-9)


@pytest.mark.parametrize("name", ["mask.nrrd", "mask.seg.nrrd", "mask.nii.gz", "mask.mha"])
def test_mask_of_an_axis_mins_nrrd_lands_on_the_image_voxels_in_simpleitk(tmp_path, name):
    """The sacred rule: SimpleITK places every mask voxel on the image voxel it was computed from."""
    import SimpleITK as sitk

    path = _write_nrrd(tmp_path / "image.nrrd", _BASE + ["spacings: 0.5 0.75 2", "axis mins: 10 20 30"])
    data = _read_quietly(path)
    card = make_card(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anisotropy notes of the tiny test grid
        result = segment_array(data.array, data.geometry, ThresholdPredictor(card, 32))
    assert result.labels.any() and not result.labels.all()
    written = write_segmentation(tmp_path / name, result, card, input_path=path)
    image, mask = sitk.ReadImage(str(path)), sitk.ReadImage(str(written))
    assert mask.GetSize() == image.GetSize()
    np.testing.assert_allclose(mask.GetOrigin(), image.GetOrigin(), atol=1e-4)  # NIfTI keeps float32 positions
    np.testing.assert_allclose(mask.GetSpacing(), image.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(mask.GetDirection(), image.GetDirection(), atol=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(mask) > 0, sitk.GetArrayFromImage(image) > 0)
