"""A labelmap whose voxels arrive as floats cannot hold labels from 2**24 on apart: refused, never merged.

A DICOM label series without a fractional rescale is read as integers, so a 32-bit label series written here
with pydicom (``BitsAllocated`` 32, as label exporters write instance maps) holding 16777216 and 16777217
keeps two segments (test_s18_follow_dicom_exact_labels.py). A float32 NRRD written with pynrrd holds such values as the file stores them,
and they cannot be told apart there either. Below 2**24 float voxels stay exact and are read.
"""

from __future__ import annotations

import nrrd
import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io.label_files import read_label_volume
from dicom_label_helpers import BIG, big_labels, grid, write_label_series  # noqa: F401 - grid: a pytest fixture


def test_a_dicom_label_series_below_2_to_the_24_keeps_every_label(tmp_path, grid):
    """The same series with labels just below the limit: read exactly, every label its own segment."""
    labels = big_labels(grid, BIG - 3, np.uint32)
    volume = read_label_volume(write_label_series(tmp_path / "labels", labels, grid))
    assert [s.value for s in volume.segments] == [7, BIG - 3, BIG - 2]
    np.testing.assert_array_equal(volume.layers[0], labels)


def test_a_float32_nrrd_with_labels_from_2_to_the_24_is_refused(tmp_path, grid):
    labels = big_labels(grid, BIG, np.uint32).astype(np.float32)  # 16777217 is stored as 16777216 by the cast itself
    header = {"space": "left-posterior-superior", "space origin": np.asarray(grid.origin),
              "space directions": (grid.direction_matrix * np.asarray(grid.spacing)).T, "kinds": ["domain"] * 3}
    path = tmp_path / "labels.nrrd"
    nrrd.write(str(path), np.transpose(labels, (2, 1, 0)), header, index_order="F")
    with pytest.raises(InputError, match=r"labels\.nrrd: .*16777216"):
        read_label_volume(path)
