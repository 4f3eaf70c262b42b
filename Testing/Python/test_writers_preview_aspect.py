"""Audit: the preview shows a millimetre as long across as down, as Slicer's slice views do.

It drew one picture pixel per voxel whatever the spacing, so a 40 x 40 mm slice of 0.5 x 4 mm
pixels came out eight times wider than tall, and a square organ as a flat bar. Narrow panels that
the spacing gives keep a readable caption and legend.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from io_test_helpers import make_card

from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io import write_preview
from SDSegLogic.io.preview import _BACKGROUND
from SDSegLogic.io.readers import image_data_from_array

Image = pytest.importorskip("PIL.Image")


def _preview(tmp_path, shape_kji, spacing, block) -> np.ndarray:
    """uint8 RGB preview of an axial volume (LPS axes) whose ``block`` (slices of K, J, I) is class 1."""
    card = make_card(1)
    k, j, i = shape_kji
    geometry = ImageGeometry(spacing, (0.0, 0.0, 0.0), np.eye(3), (i, j, k))
    labels = np.zeros(shape_kji, np.uint8)
    labels[block] = 1
    image = image_data_from_array(np.where(labels > 0, 200.0, -1000.0).astype(np.float32), geometry)
    result = SimpleNamespace(labels=labels, geometry=geometry)
    path = write_preview(tmp_path / "preview.png", image, result, card, max_slices=1)
    return np.asarray(Image.open(path).convert("RGB")), np.round(np.asarray(card.classes[0].color) * 255)


def _panel_height(picture: np.ndarray) -> int:
    """Rows of the picture above the caption: the first row that is all background colour."""
    background = np.all(picture == np.asarray(_BACKGROUND, np.uint8), axis=2).all(axis=1)
    return int(np.argmax(background))


def test_a_slice_of_non_square_pixels_is_shown_at_its_physical_aspect(tmp_path):
    # 80 columns of 0.5 mm x 10 rows of 4 mm: 40 x 40 mm; the class is a 12 x 12 mm square
    picture, colour = _preview(tmp_path, (3, 10, 80), (0.5, 4.0, 2.0), (1, slice(3, 6), slice(28, 52)))
    height = _panel_height(picture)
    panel = picture[:height]
    columns = np.flatnonzero(np.any(np.any(panel != np.asarray(_BACKGROUND, np.uint8), axis=2), axis=0))
    width = int(columns[-1]) + 1
    assert abs(width / height - 1.0) < 0.05, f"a 40 x 40 mm slice is shown {width} x {height} pixels"
    rows, cols = np.nonzero(np.all(panel == colour.astype(np.uint8), axis=2))
    box_h, box_w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert abs(box_w / box_h - 1.0) < 0.15, f"a 12 x 12 mm square is outlined {box_w} x {box_h} pixels"


def test_square_pixels_are_shown_one_to_one(tmp_path):
    picture, _ = _preview(tmp_path, (2, 300, 400), (0.8, 0.8, 2.0), (1, slice(100, 120), slice(50, 90)))
    assert _panel_height(picture) == 300 and picture.shape[1] == 400


def test_a_narrow_panel_keeps_its_caption_and_legend_inside_the_picture(tmp_path):
    # 40 columns of 0.5 mm x 40 rows of 4 mm: a 20 x 160 mm slice, shown about 5 times taller than wide
    picture, _ = _preview(tmp_path, (3, 40, 40), (0.5, 4.0, 2.0), (1, slice(10, 20), slice(10, 30)))
    height = _panel_height(picture)
    caption_and_legend = picture[height:]
    text = np.any(caption_and_legend > 200, axis=2)  # light grey text (230)
    last_text_column = int(np.flatnonzero(text.any(axis=0))[-1])
    assert last_text_column < picture.shape[1] - 2, "the caption or legend runs off the right edge"
