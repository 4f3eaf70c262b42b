"""A photo-modality DICOM series is read in its own pixel type only when no slice has a rescale.

The check looked at the first file's slope and intercept and at later slopes, not later intercepts: an external-camera
(XC) series of uint16 slices whose first slice has intercept 0 and the others -100 was read in uint16, where ITK
applies each slice's rescale in the first file's type, so a stored 50 became 50 - 100 = -50 wrapped to 65486, then
scaled as a 16-bit picture to 254.8: a dark voxel turned almost white.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from io_test_helpers import write_dicom_series

from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io.readers import read_image

pydicom = pytest.importorskip("pydicom")


def photo_series(folder, intercepts, modality: str = "XC"):
    """A 3-slice uint16 series of ``modality`` (stored 0 and 50), slice k with ``intercepts[k]``; the files."""
    stored = np.zeros((3, 8, 10), np.uint16)
    stored[:, 2:5, 3:7] = 50
    names = write_dicom_series(folder, stored.astype(float), ImageGeometry((0.5, 0.5, 2.0), (0, 0, 0), np.eye(3),
                                                                            (10, 8, 3)), intercept=0.0)
    for k, name in enumerate(names):
        ds = pydicom.dcmread(name)
        ds.Modality, ds.PixelRepresentation, ds.RescaleIntercept = modality, 0, f"{intercepts[k]:g}"
        ds.PixelData = stored[k].tobytes()
        ds.save_as(name)
    return names, stored


def read(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_image(folder)


@pytest.mark.parametrize("intercepts", [(0, -100, -100), (0, 0, 7), (-100, -100, -100)])
def test_each_slice_of_a_photo_series_keeps_its_own_rescale(intercepts, tmp_path):
    names, stored = photo_series(tmp_path, intercepts)
    image = read(tmp_path)
    expected = np.stack([stored[k] * float(pydicom.dcmread(n).RescaleSlope) + float(pydicom.dcmread(n).RescaleIntercept)
                         for k, n in enumerate(names)])
    assert np.array_equal(image.array, expected.astype(np.float32))
    assert image.metadata["rescale"]["varies_per_slice"] == (len(set(intercepts)) > 1)


def test_a_photo_series_without_rescale_is_still_read_as_its_pixels(tmp_path):
    """Intercepts 0 everywhere: read in its own type, a 16-bit picture scaled to 0..255 as a 16-bit PNG is."""
    _, stored = photo_series(tmp_path, (0, 0, 0))
    image = read(tmp_path)
    assert np.allclose(image.array, stored / 257.0, atol=1e-4)
    assert not image.metadata["rescale"]["varies_per_slice"]
