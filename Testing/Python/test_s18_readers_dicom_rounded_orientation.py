"""A DICOM series whose ImageOrientationPatient is written with few digits is read as SimpleITK reads it.

``0.71\\0.71\\0\\-0.71\\0.71\\0`` (a 45-degree oblique plane, rounded to two decimals) holds row and
column vectors 0.4 % longer than 1. GDCM normalises them; the engine's slice-stack check took the
cross product of the raw vectors as the slice normal, so every step of an ordinary stack looked
shifted sideways and the series was refused as "gantry tilt".
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from io_test_helpers import geometry_for, rotation, write_dicom_series, write_enhanced_dicom

from SDSegLogic.io import read_image

_VOLUME = np.where(np.arange(6 * 5 * 4).reshape(6, 5, 4) % 3 == 0, 300.0, -1000.0)  # (K, J, I) HU


def _series_with_rounded_orientation(folder, digits: int):
    """A 45-degree oblique CT series whose ImageOrientationPatient is written with ``digits`` decimals."""
    geometry = geometry_for(rotation(45, 0), shape_kji=_VOLUME.shape, spacing=(0.8, 0.9, 2.5))
    names = write_dicom_series(folder, _VOLUME, geometry)
    axes = geometry.direction_matrix
    for name in names:
        ds = pydicom.dcmread(name)
        ds.ImageOrientationPatient = [f"{v:.{digits}f}" for v in list(axes[:, 0]) + list(axes[:, 1])]
        ds.save_as(name, enforce_file_format=True)
    return geometry


@pytest.mark.parametrize("digits", [2, 6])
def test_series_with_rounded_orientation_is_read_on_simpleitks_grid(tmp_path, digits):
    import SimpleITK as sitk

    geometry = _series_with_rounded_orientation(tmp_path, digits)
    data = read_image(tmp_path)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path)))
    image = reader.Execute()
    np.testing.assert_allclose(data.geometry.origin, image.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(data.geometry.spacing, image.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(data.geometry.direction_matrix.ravel(), image.GetDirection(), atol=1e-6)
    np.testing.assert_allclose(data.geometry.direction_matrix, geometry.direction_matrix, atol=5e-3)
    assert np.array_equal(data.array, _VOLUME.astype(np.float32))


def test_a_real_sideways_shift_is_still_refused_with_rounded_orientation(tmp_path):
    """Normalising the rounded axes must not hide a gantry tilt of 0.5 mm per slice."""
    from SDSegLogic.errors import GeometryError

    geometry = geometry_for(rotation(45, 0), shape_kji=_VOLUME.shape, spacing=(0.8, 0.9, 2.5))
    names = write_dicom_series(tmp_path, _VOLUME, geometry, shift=geometry.direction_matrix[:, 1] * 0.5)
    for name in names:
        ds = pydicom.dcmread(name)
        ds.ImageOrientationPatient = [f"{v:.2f}" for v in list(geometry.direction_matrix[:, 0])
                                      + list(geometry.direction_matrix[:, 1])]
        ds.save_as(name, enforce_file_format=True)
    with pytest.raises(GeometryError, match="sideways"):
        read_image(tmp_path)


def test_enhanced_multiframe_file_with_rounded_orientation_is_read_on_its_frames(tmp_path):
    """The multi-frame check compared GDCM's (normalised) axes with the raw rounded ones and refused the file."""
    geometry = geometry_for(rotation(45, 0), shape_kji=_VOLUME.shape, spacing=(0.8, 0.9, 2.5))
    path = tmp_path / "enhanced.dcm"
    write_enhanced_dicom(path, _VOLUME, geometry)
    ds = pydicom.dcmread(path)
    axes = geometry.direction_matrix
    ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient = [
        f"{v:.2f}" for v in list(axes[:, 0]) + list(axes[:, 1])]
    ds.save_as(path, enforce_file_format=True)
    data = read_image(path)
    first_voxels = np.array([[0.0, 0.0, float(k)] for k in range(_VOLUME.shape[0])])  # (i, j, k) of each frame
    np.testing.assert_allclose(data.geometry.index_to_world(first_voxels), geometry.index_to_world(first_voxels),
                               atol=1e-4)  # every frame where its PlanePosition puts it
    assert np.array_equal(data.array, _VOLUME.astype(np.float32))
