"""Audit: the preview of a single coronal or sagittal slice shows that slice, as Slicer's views do.

It used to cut the volume into axial rows one pixel high (three thin stripes: nothing to see).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from io_test_helpers import ThresholdPredictor, make_card

from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io import write_preview
from SDSegLogic.io.readers import image_data_from_array
from SDSegLogic.segment import segment_array

Image = pytest.importorskip("PIL.Image")


def _preview(tmp_path, shape_ijk, marker_kji, name: str) -> np.ndarray:
    """Preview of a 6 x 8 slice (LPS axes, 1 mm) with a bright marker at ``marker_kji``."""
    card = make_card()
    geometry = ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), shape_ijk)
    array = np.full(geometry.array_shape, -1000.0, dtype=np.float32)
    array[marker_kji] = 200.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a single coronal/sagittal slice for an axial model is reported
        result = segment_array(array, geometry, ThresholdPredictor(card))
    assert result.labels[marker_kji] == 1 and result.labels.sum() > 0
    path = write_preview(tmp_path / f"{name}.png", image_data_from_array(array, geometry), result, card, max_slices=3)
    return np.asarray(Image.open(path))


def _check_slice_with_marker_top_left(picture: np.ndarray) -> None:
    factor = 256 // 8  # tiny pictures are enlarged by nearest neighbour
    assert picture.shape[0] >= 6 * factor and picture.shape[1] >= 8 * factor, \
        f"the panels show rows or columns, not the 6 x 8 slice (picture {picture.shape})"
    panel = picture[: 6 * factor, : 8 * factor]
    top_left, rest = panel[:factor, :factor], panel[3 * factor:, 3 * factor:]
    assert top_left.mean() > rest.mean() + 50, "the marker is at the top left"


def test_single_coronal_slice_preview_is_the_slice_superior_up_right_on_the_left(tmp_path):
    # i -> L (8), j -> P (1 coronal slice), k -> S (6): marker at the most superior row, patient right
    picture = _preview(tmp_path, (8, 1, 6), (5, 0, 0), "coronal")
    _check_slice_with_marker_top_left(picture)


def test_single_sagittal_slice_preview_is_the_slice_superior_up_anterior_on_the_left(tmp_path):
    # i -> L (1 sagittal slice), j -> P (8), k -> S (6): marker at the most superior row, most anterior
    picture = _preview(tmp_path, (1, 8, 6), (5, 0, 0), "sagittal")
    _check_slice_with_marker_top_left(picture)


def test_axial_volume_preview_is_unchanged(tmp_path):
    # i -> L (8), j -> P (6), k -> S (3): axial slices, anterior up, right on the left, as before
    picture = _preview(tmp_path, (8, 6, 3), (1, 0, 0), "axial")
    factor = 256 // 8
    assert picture[: factor, : factor].mean() > picture[3 * factor:6 * factor, 3 * factor:8 * factor].mean() + 50


def test_an_infinite_voxel_does_not_blacken_the_preview_of_a_min_max_model(tmp_path):
    """Min-max display range over finite voxels: one +inf voxel (segmented with --nan-policy fill) used to make
    the range 0..3.4e38, so the whole panel was black."""
    card = make_card(kind="minmax")
    geometry = ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (8, 8, 2))
    array = np.tile(np.linspace(0.0, 1000.0, 8, dtype=np.float32), (2, 8, 1))  # a ramp along i
    array[:, 4:, :] = 900.0  # bright lower half: foreground of the threshold predictor
    array[0, 0, 0] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = segment_array(array, geometry, ThresholdPredictor(card), nan_policy="fill")
    path = write_preview(tmp_path / "mr.png", image_data_from_array(array, geometry), result, card, max_slices=1)
    picture = np.asarray(Image.open(path)).astype(float)
    factor = 256 // 8
    right_column = picture[: 4 * factor, 7 * factor:8 * factor]  # the ramp's bright end, above the foreground
    assert right_column.mean() > 200
