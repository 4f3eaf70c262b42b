"""A NIfTI in metres or micrometres (``xyzt_units``) is read in millimetres, as SimpleITK and 3D Slicer read it.

ITK's NiftiImageIO scales spacing and origin by the header's spatial unit (metre x 1000, micron x
0.001). The engine compared SimpleITK's (scaled) grid with the raw sform and refused a valid 3-D file
("not on the reference grid"), and placed a 2-D file (``dim[0] = 2``) by the raw sform, 1000 times
too small or too large, so its mask would not lie on the picture in 3D Slicer.
"""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest
from io_test_helpers import ThresholdPredictor, make_card, rotation

from SDSegLogic.io import read_image, write_segmentation
from SDSegLogic.segment import segment_array

_UNITS = {"metre": 1, "millimetre": 2, "micron": 3}
_VOLUME = np.where(np.arange(4 * 5 * 6).reshape(4, 5, 6) % 5 == 0, 2000, -1000).astype(np.int16)  # (K, J, I)


def _nifti(path, volume, ijk_to_ras, units: int):
    """A NIfTI-1 file of ``volume`` (K, J, I) or (J, I) int16 whose sform and qform are ``ijk_to_ras`` (4, 4)."""
    shape = volume.shape[::-1]
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, len(shape), *shape, *([1] * (7 - len(shape))))
    struct.pack_into("<hh", header, 70, 4, 16)  # int16
    spacing = np.linalg.norm(ijk_to_ras[:3, :3], axis=0)
    struct.pack_into("<8f", header, 76, 1.0, *spacing, 1.0, 1.0, 1.0, 1.0)
    struct.pack_into("<ff", header, 108, 352.0, 1.0)  # vox_offset, scl_slope
    header[123] = units
    struct.pack_into("<hh", header, 252, 1, 1)  # qform_code, sform_code
    rotation_ras = ijk_to_ras[:3, :3] / spacing
    w = np.sqrt(max(0.0, 1.0 + np.trace(rotation_ras))) / 2  # a proper rotation: quaternion (w, b, c, d)
    b, c, d = (np.array([rotation_ras[2, 1] - rotation_ras[1, 2], rotation_ras[0, 2] - rotation_ras[2, 0],
                         rotation_ras[1, 0] - rotation_ras[0, 1]]) / (4 * w))
    struct.pack_into("<6f", header, 256, b, c, d, *ijk_to_ras[:3, 3])
    struct.pack_into("<12f", header, 280, *ijk_to_ras[:3].ravel())
    header[344:348] = b"n+1\0"
    path.write_bytes(bytes(header) + volume.astype("<i2").tobytes())
    return path


def _ijk_to_ras(spacing, origin) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = rotation(20, 10) * np.asarray(spacing)
    matrix[:3, 3] = origin
    return matrix


def _sitk_ijk_to_lps(path) -> np.ndarray:
    """(4, 4) IJK -> LPS of SimpleITK's reading of a 3-D file."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    matrix = np.eye(4)
    matrix[:3, :3] = np.reshape(image.GetDirection(), (3, 3)) * np.asarray(image.GetSpacing())
    matrix[:3, 3] = image.GetOrigin()
    return matrix


@pytest.mark.parametrize("unit, scale", [("metre", 1e-3), ("micron", 1e3), ("millimetre", 1.0)])
def test_three_d_nifti_in_other_units_is_read_in_millimetres_like_simpleitk(tmp_path, unit, scale):
    ras = _ijk_to_ras(np.array([0.8, 0.9, 2.5]) * scale, np.array([11.5, -22.25, 33.0]) * scale)
    path = _nifti(tmp_path / f"{unit}.nii", _VOLUME, ras, _UNITS[unit])
    data = read_image(path)
    np.testing.assert_allclose(data.geometry.spacing, (0.8, 0.9, 2.5), rtol=1e-5)
    np.testing.assert_allclose(data.geometry.ijk_to_lps(), _sitk_ijk_to_lps(path), rtol=1e-6, atol=1e-6)
    assert np.array_equal(data.array, _VOLUME.astype(np.float32))


@pytest.mark.parametrize("unit, scale", [("metre", 1e-3), ("micron", 1e3)])
def test_two_d_nifti_in_other_units_is_placed_in_millimetres(tmp_path, unit, scale):
    """SimpleITK reads a 2-D NIfTI as 2-D (no tilt, no z); its in-plane spacing is the reference."""
    import SimpleITK as sitk

    ras = _ijk_to_ras(np.array([0.8, 0.9, 1.0]) * scale, np.array([11.5, -22.25, 55.0]) * scale)
    path = _nifti(tmp_path / f"plane {unit}.nii", _VOLUME[0], ras, _UNITS[unit])
    data = read_image(path)
    np.testing.assert_allclose(data.geometry.spacing[:2], sitk.ReadImage(str(path)).GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(data.geometry.spacing, (0.8, 0.9, 1.0), rtol=1e-5)
    lps_origin = np.array([-11.5, 22.25, 55.0])  # RAS -> LPS, in mm
    np.testing.assert_allclose(data.geometry.origin, lps_origin, rtol=1e-6, atol=1e-5)
    assert data.metadata["is_2d"]


def test_mask_of_a_metre_nifti_lands_on_its_voxels_in_simpleitk(tmp_path):
    """The sacred rule: written as NRRD, the mask lies on the image's voxels in millimetres."""
    import SimpleITK as sitk

    ras = _ijk_to_ras(np.array([0.8, 0.9, 2.5]) * 1e-3, np.array([11.5, -22.25, 33.0]) * 1e-3)
    path = _nifti(tmp_path / "metre.nii", _VOLUME, ras, _UNITS["metre"])
    data = read_image(path)
    card = make_card(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # orientation and anisotropy notes of the tiny oblique grid
        result = segment_array(data.array, data.geometry, ThresholdPredictor(card, 32))
    mask = sitk.ReadImage(str(write_segmentation(tmp_path / "mask.seg.nrrd", result, card, input_path=path)))
    image = sitk.ReadImage(str(path))
    np.testing.assert_allclose(mask.GetOrigin(), image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(mask.GetSpacing(), image.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(mask.GetDirection(), image.GetDirection(), atol=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(mask) > 0, sitk.GetArrayFromImage(image) > 0)
