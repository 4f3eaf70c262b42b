"""A single coronal or sagittal slice, segmented by an axial model, reaches the model as Slicer's view shows it.

Slicer's coronal view shows patient left on the right and the head at the top (rows toward the feet); its sagittal
view anterior on the left and the head at the top. The model gets the slice that way, whatever the file's row and
column directions, the warning says so, and the mask lands on the marker's own voxels.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from io_test_helpers import ThresholdPredictor, make_card
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.segment import segment_array


class RecordingPredictor(ThresholdPredictor):
    """A :class:`ThresholdPredictor` that keeps the channel-mean of every slice it was given, (S, S)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def predict_probabilities(self, images, *args, **kwargs):
        self.seen.extend(images.mean(axis=1))
        return super().predict_probabilities(images, *args, **kwargs)


# (i, j, k) directions in LPS of one-slice files; k is the thin axis. Each: the plane and its stored rows' direction.
CORONAL_ROWS_TO_FEET = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float)  # i -> L, j -> I, k -> P
CORONAL_ROWS_TO_HEAD = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], float)  # i -> L, j -> S, k -> P
CORONAL_MIRRORED = np.array([[-1, 0, 0], [0, 0, 1], [0, 1, 0]], float)  # i -> R, j -> S, k -> P
SAGITTAL_SLICER = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], float)  # i -> P, j -> I, k -> L
SAGITTAL_ROWS_TO_HEAD = np.array([[0, 0, 1], [-1, 0, 0], [0, 1, 0]], float)  # i -> A, j -> S, k -> L


def slicer_view(array_ji: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The (J, I) slice as Slicer's coronal or sagittal view shows it: rows toward the feet (-S), columns toward
    patient left (+L) on a coronal slice, toward posterior (+P) on a sagittal one."""
    view = array_ji
    if direction[2, 1] > 0:  # rows toward the head: flip them
        view = view[::-1, :]
    column_axis = 0 if abs(direction[0, 0]) > 0.5 else 1
    if direction[column_axis, 0] < 0:
        view = view[:, ::-1]
    return view


@pytest.mark.parametrize("direction, plane", [(CORONAL_ROWS_TO_FEET, "coronal"), (CORONAL_ROWS_TO_HEAD, "coronal"),
                                              (CORONAL_MIRRORED, "coronal"), (SAGITTAL_SLICER, "sagittal"),
                                              (SAGITTAL_ROWS_TO_HEAD, "sagittal")])
def test_the_model_sees_the_slice_as_slicer_shows_it_and_the_mask_lands_on_the_marker(direction, plane):
    size = 40
    geometry = ImageGeometry((1.0, 1.0, 1.0), (3.0, -2.0, 7.0), direction, (size, size, 1))
    array = np.full((1, size, size), -1000.0, np.float32)
    array[0, 4:14, 6:12] = 500.0  # an "L": a bar and a foot, asymmetric under every flip and transpose
    array[0, 10:14, 12:24] = 500.0
    predictor = RecordingPredictor(make_card(), sample_size=size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = segment_array(array, geometry, predictor)
    assert np.array_equal(result.labels[0] > 0, array[0] > 0)  # the mask on the marker's voxels
    seen = predictor.seen[0] > 0
    assert np.array_equal(seen, slicer_view(array[0] > 0, direction))
    text = " ".join(str(w.message) for w in caught)
    assert f"single {plane} slice" in text and "as is" not in text and f"Slicer's {plane} view" in text
