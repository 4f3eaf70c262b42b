"""A DICOM label series is read exactly by the common path, straight into the smallest integer type that holds it.

The series are written with pydicom (8-, 16- and 32-bit, signed and unsigned, with and without a whole-number
rescale) and read by :func:`SDSegLogic.io.readers.read_voxels` (the path every labelmap takes) and by the
labelmap reader of :mod:`SDSegLogic.io.label_files`. The memory a read takes shows in the array's type: before,
an exact read went through int64 and came back as int32 (4 bytes a voxel for an 8-bit series).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest

from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io.label_files import read_label_volume
from SDSegLogic.io.readers import read_image, read_voxels
from dicom_label_helpers import BIG, grid, write_label_series as write_series  # noqa: F401 - grid: a pytest fixture


def _labels(grid: ImageGeometry, values: Sequence[int]) -> np.ndarray:
    out = np.zeros(grid.array_shape, np.int64)
    for n, value in enumerate(values):
        out[n, 1:3, 1 + n % 3:4] = value
    return out


def test_read_voxels_reads_a_dicom_label_series_exactly(tmp_path, grid):
    """Before: read_voxels dropped ``exact`` for DICOM, so 2**24 + 1 came back as float32 16777216."""
    labels = _labels(grid, [7, BIG, BIG + 1])
    folder = write_series(tmp_path / "labels", labels, grid, "uint32")
    voxels, geometry = read_voxels(folder)
    assert voxels.dtype.kind in "iu"
    np.testing.assert_array_equal(voxels, labels)
    assert geometry.array_shape == grid.array_shape
    assert read_image(folder).array.dtype == np.float32  # images are still float32


@pytest.mark.parametrize("dtype, rescale, expected", [
    ("uint8", None, np.uint8),
    ("int8", None, np.int8),
    ("uint16", None, np.uint16),
    ("int16", (1, 0), np.int16),
    ("uint8", (-1, 0), np.int16),  # a negative slope: -255..0
    ("uint16", (1, -1024), np.int32),  # -1024..64511
    ("uint32", (2, 5), np.int64),  # beyond uint32
])
def test_label_series_is_read_into_the_smallest_exact_type(tmp_path, grid, dtype, rescale, expected):
    """Before: int64 from GDCM narrowed to int32 (4 bytes a voxel, and 12 during the read) whatever the stored type."""
    info = np.iinfo(dtype)
    stored = _labels(grid, [1, 2, min(info.max, 200), max(info.min, 0) + 3, info.max])
    slices = grid.array_shape[0]
    folder = write_series(tmp_path / "labels", stored, grid, dtype, None if rescale is None else [rescale] * slices)
    voxels, _ = read_voxels(folder)
    assert voxels.dtype == expected
    slope, intercept = rescale or (1, 0)
    np.testing.assert_array_equal(voxels, stored * slope + intercept)


def test_labelmap_reader_takes_the_common_exact_path(tmp_path, grid):
    """The labelmap reader gives a uint8 series its labels in one byte a voxel, and its segments exactly."""
    labels = _labels(grid, [3, 9, 255])
    folder = write_series(tmp_path / "labels", labels, grid, "uint8")
    from SDSegLogic.io.label_files import _labelmap_voxels

    voxels, _ = _labelmap_voxels(folder, None, None)
    assert voxels.dtype == np.uint8
    assert [s.value for s in read_label_volume(folder).segments] == [3, 9, 255]


def test_per_slice_rescales_widen_the_type_to_hold_every_slice(tmp_path, grid):
    """Slices of slope 1 and of intercept 300 (beyond uint8): the type holds both."""
    stored = _labels(grid, [1, 2, 250])
    rescale = [(1, 0)] * (grid.array_shape[0] - 1) + [(1, 300)]
    folder = write_series(tmp_path / "labels", stored, grid, "uint8", rescale)
    voxels, _ = read_voxels(folder)
    expected = stored.copy()
    expected[-1] += 300
    assert voxels.dtype == np.uint16
    np.testing.assert_array_equal(voxels, expected)


@pytest.mark.parametrize("slope, value", [(2.5, 7.5), (3.0, 90000.0)])
def test_enhanced_ct_rescale_in_functional_groups_is_kept(tmp_path, grid, slope, value):
    """An Enhanced CT keeps its rescale in functional groups, not in the top-level tags.

    Before: read as int64 whatever the rescale, so 7.5 (stored 3, slope 2.5) became 7 and a labelmap took a value
    it never held. Now a fractional rescale stays float32 (and a labelmap refuses it as not integral), and an
    integer one is read in a type holding GDCM's range (90000 = 30000 x 3, beyond the stored int16).
    """
    pytest.importorskip("pydicom")
    from io_test_helpers import write_enhanced_dicom

    from SDSegLogic.io.label_files import _labelmap_voxels

    image = np.zeros(grid.array_shape)
    image[:, 1, 1] = value
    path = tmp_path / "enhanced.dcm"
    write_enhanced_dicom(path, image, grid, intercept=0.0, slopes=[slope] * grid.array_shape[0])
    voxels, _ = _labelmap_voxels(path, None, None)  # the labelmap reader's exact read
    np.testing.assert_array_equal(voxels, read_image(path).array)
    np.testing.assert_array_equal(voxels[:, 1, 1], value)
