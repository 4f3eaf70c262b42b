"""A DICOM series with two slices on one plane is refused naming them, not as "slices are missing".

Two copies of a slice under one series UID (a re-sent slice, two echoes or phases) make GDCM give up
its position sort; the stack check then measured steps between files in name order and reported
"slice spacing is not uniform (step 5 is 35.000 mm)" with the remedy "re-export the complete series",
naming no file and hiding that the series holds repeated planes.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from io_test_helpers import geometry_for, marker_array, write_dicom_series

from SDSegLogic.errors import GeometryError
from SDSegLogic.io import read_image


def _copies(folder, volume, geometry, prefix):
    """Write ``volume`` again under the same series UID with new SOP Instance UIDs (a second acquisition)."""
    for name in write_dicom_series(folder, volume, geometry, prefix=prefix):
        ds = pydicom.dcmread(name)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID + ".9"
        ds.save_as(name, enforce_file_format=True)


@pytest.mark.parametrize("repeated", [6, 1], ids=["every-slice", "one-slice"])
def test_series_with_slices_on_one_plane_names_them(tmp_path, repeated):
    volume, geometry = marker_array(), geometry_for(np.eye(3))
    write_dicom_series(tmp_path, volume, geometry, prefix="first")
    _copies(tmp_path, volume[:repeated], geometry, prefix="again")
    with pytest.raises(GeometryError) as caught:
        read_image(tmp_path)
    message = str(caught.value)
    assert str(tmp_path) in message and "first_000.dcm" in message and "again_000.dcm" in message
    assert f"{repeated} slice(s) lie on the plane of another" in message and "acquisition" in message
    assert "missing" not in message


def test_series_without_repeated_planes_still_reads(tmp_path):
    volume = marker_array()
    write_dicom_series(tmp_path, volume, geometry_for(np.eye(3)))
    assert np.array_equal(read_image(tmp_path).array, volume)
