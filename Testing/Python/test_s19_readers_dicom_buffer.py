"""A DICOM series is handed over in ITK's own pixel buffer (no second copy), and that array stays sound.

The array now lives in the buffer of the image GDCM read (it used to be a copy, so the voxels were held twice
while reading). These tests pin the behaviour that must not change with it: the voxels outlive the reader's
image, are writable, and two reads never share memory. (The memory itself is measured by a script, not here.)
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

from io_test_helpers import geometry_for, write_dicom_series
from SDSegLogic.io.readers import read_image, read_voxels

pytest.importorskip("SimpleITK")
pytest.importorskip("pydicom")

SHAPE = (4, 9, 11)


def _series(tmp_path):
    labels = np.zeros(SHAPE, np.float32)
    labels[1:3, 2:6, 3:8] = 3
    labels[0, 0, :4] = 200
    folder = tmp_path / "series"
    folder.mkdir()
    write_dicom_series(folder, labels, geometry_for(np.eye(3), SHAPE), intercept=0.0)
    return folder, labels


@pytest.mark.parametrize("exact", [True, False])
def test_voxels_outlive_the_reader_and_are_writable(tmp_path, exact):
    folder, labels = _series(tmp_path)
    first = read_voxels(folder)[0] if exact else read_image(folder).array
    gc.collect()
    second = read_voxels(folder)[0] if exact else read_image(folder).array  # reuses freed memory, if any was
    np.testing.assert_array_equal(first, labels)
    np.testing.assert_array_equal(second, labels)
    assert first.flags.writeable and second.flags.writeable
    assert not np.shares_memory(first, second)
    first[...] = 0  # a caller may edit its array: the other read and a new one are unaffected
    del first
    gc.collect()
    np.testing.assert_array_equal(second, labels)
    np.testing.assert_array_equal(read_voxels(folder)[0], labels)
