"""A DICOM label series is read in an exact type, so labels from 2**24 on stay apart (not merged, not refused).

The series are written with pydicom: 32-bit unsigned pixels (as label exporters write instance maps), with no
rescale, with an integer rescale (slope 2, intercept 5) and with a rescale that differs per slice. Images are
still read as float32 (:func:`SDSegLogic.io.read_image`).
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image
from SDSegLogic.io.label_files import read_label_volume
from dicom_label_helpers import BIG, big_labels, grid, write_label_series  # noqa: F401 - grid: a pytest fixture
from test_score import write_labelmap


def test_labels_above_2_to_the_24_are_read_exactly(tmp_path, grid, capsys):
    """Before: refused (read as float32, 16777217 would be 16777216). Now: three segments, every voxel exact."""
    labels = big_labels(grid, BIG)
    folder = write_label_series(tmp_path / "labels", labels, grid)
    volume = read_label_volume(folder)
    assert [s.value for s in volume.segments] == [7, BIG, BIG + 1]
    np.testing.assert_array_equal(volume.layers[0], labels)
    prediction = write_labelmap(tmp_path / "prediction.nrrd", labels, grid, dtype=np.uint32)
    assert main(["score", str(prediction), str(folder)]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"label {BIG + 1}" in out and f"label {BIG}" in out


def test_an_integer_rescale_keeps_labels_exact(tmp_path, grid):
    """Stored s with slope 2 and intercept 5: labels 2 s + 5 past 2**24, exact (float32 would round them)."""
    stored = big_labels(grid, 2 ** 23)  # 2**23 and 2**23 + 1 -> labels 2**24 + 5 and 2**24 + 7
    folder = write_label_series(tmp_path / "labels", stored, grid, rescale=[(2, 5)] * grid.array_shape[0])
    volume = read_label_volume(folder)
    expected = stored * 2 + 5
    np.testing.assert_array_equal(volume.layers[0], expected)
    assert [s.value for s in volume.segments] == sorted(set(expected.ravel().tolist()))


def test_a_per_slice_integer_rescale_keeps_labels_exact(tmp_path, grid):
    """Slices with different integer intercepts: each slice rescaled by its own, exactly."""
    stored = big_labels(grid, BIG)
    rescale = [(1, 10 * k) for k in range(grid.array_shape[0])]
    folder = write_label_series(tmp_path / "labels", stored, grid, rescale=rescale)
    volume = read_label_volume(folder)
    expected = stored + np.array([r[1] for r in rescale])[:, None, None]
    np.testing.assert_array_equal(volume.layers[0], expected)


def test_a_non_integer_rescale_is_still_refused_past_float_exactness(tmp_path, grid):
    """Slope 0.5: the labels are floats; whole-number ones read, non-whole ones refused as not labels."""
    stored = big_labels(grid, 100)
    stored[0, 0, 1] = 3  # 1.5: not an integer label
    folder = write_label_series(tmp_path / "labels", stored, grid, rescale=[(0.5, 0)] * grid.array_shape[0])
    with pytest.raises(InputError, match="not an integer"):
        read_label_volume(folder)


def test_an_image_series_is_still_read_as_float32(tmp_path, grid):
    stored = big_labels(grid, 1000)
    folder = write_label_series(tmp_path / "image", stored, grid, rescale=[(2, 5)] * grid.array_shape[0])
    array = read_image(folder).array
    assert array.dtype == np.float32
    np.testing.assert_array_equal(array, (stored * 2 + 5).astype(np.float32))
