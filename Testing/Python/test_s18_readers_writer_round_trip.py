"""Every writable format gives the mask back on the image's grid: same lattice, direction, origin, spacing.

Image (NRRD, any orientation) -> read -> segmented -> mask written as .seg.nrrd / .nrrd / .nii /
.nii.gz / .mha -> read again by the engine (``read_label_volume``, as ``sdseg score`` reads masks)
and by SimpleITK: direction, origin and spacing agree to 1e-6 and every mask voxel sits on its
image voxel. NIfTI stores positions as float32, so origin and spacing are chosen representable
there (a double such as 1234.56789 comes back only to ~2e-5 mm from a NIfTI).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from io_test_helpers import MARKER_VOXELS, ThresholdPredictor, make_card, marker_array, rotation, signed_permutations

from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io import read_image, write_float_volume, write_segmentation
from SDSegLogic.io.label_files import read_label_volume
from SDSegLogic.segment import segment_array

_FORMATS = ("mask.seg.nrrd", "mask.nrrd", "mask.nii", "mask.nii.gz", "mask.mha")
_DIRECTIONS = [np.eye(3), rotation(15, 5), rotation(33, -71)] + signed_permutations()[1::9]


def _image(tmp_path, direction) -> ImageGeometry:
    """A marker volume written as NRRD on an anisotropic grid with ``direction``; returns its geometry."""
    import SimpleITK as sitk

    geometry = ImageGeometry((0.5, 0.75, 2.5), (12.5, -40.25, 101.0), direction, (12, 10, 6))
    image = sitk.GetImageFromArray(marker_array().astype(np.int16))
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(tuple(geometry.direction_matrix.ravel()))
    sitk.WriteImage(image, str(tmp_path / "image.nrrd"))
    return geometry


def _sitk_geometry(path) -> ImageGeometry:
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    return ImageGeometry(image.GetSpacing(), image.GetOrigin(), np.reshape(image.GetDirection(), (3, 3)),
                         image.GetSize())


def _same(a: ImageGeometry, b: ImageGeometry) -> None:
    a.require_same(b, what="the written mask", spacing_rtol=1e-6, direction_atol=1e-6, origin_atol=1e-6)


@pytest.mark.parametrize("index", range(len(_DIRECTIONS)))
def test_mask_round_trip_keeps_the_image_grid_in_every_format(tmp_path, index):
    truth = _image(tmp_path, _DIRECTIONS[index])
    data = read_image(tmp_path / "image.nrrd")
    _same(truth, data.geometry)
    card = make_card(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # orientation and anisotropy notes
        result = segment_array(data.array, data.geometry, ThresholdPredictor(card, 32))
    expected = np.zeros(data.array.shape, dtype=bool)
    expected[tuple(np.array(MARKER_VOXELS).T)] = True
    assert np.array_equal(result.labels > 0, expected)
    for name in _FORMATS:
        path = write_segmentation(tmp_path / name, result, card, input_path=tmp_path / "image.nrrd")
        back = read_label_volume(path)
        _same(truth, back.geometry)
        _same(truth, _sitk_geometry(path))
        assert np.array_equal(back.layers[0] > 0, expected), name


@pytest.mark.parametrize("name", ["p.nrrd", "p.nii.gz", "p.mha"])
def test_float_volume_round_trip_keeps_the_grid(tmp_path, name):
    geometry = ImageGeometry((0.5, 0.75, 2.5), (12.5, -40.25, 101.0), rotation(-40, 25), (12, 10, 6))
    values = np.random.default_rng(3).random(geometry.array_shape, dtype=np.float32)
    back = read_image(write_float_volume(tmp_path / name, values, geometry))
    _same(geometry, back.geometry)
    assert np.array_equal(back.array, values)
