"""``sdseg score`` reads a palette class mask (PASCAL VOC) as training does: the whole palette decides.

VOC's palette is coloured, but some of its entries are grey: index 7 ("car") shows (128, 128, 128). Training's
mask reader (:func:`sdseg_training.data.masks.read_mask`) reads a mask with a coloured palette as its indices, so
a mask holding only background and cars is classes 0 and 7; ``sdseg score`` read its grey pixels as grey levels,
label 128, so the reference's cars never paired with a prediction's class 7. Masks written with Pillow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from SDSegLogic.cli_score import score_files
from SDSegLogic.io.label_files import read_label_volume

pytest.importorskip("sdseg_training")
from sdseg_training.data.masks import read_mask  # noqa: E402


def voc_palette() -> list:
    """The PASCAL VOC colour map (256 entries, flat RGB), as the dataset's devkit builds it."""
    palette = []
    for index in range(256):
        red = green = blue = 0
        code = index
        for bit in range(8):
            red |= (code & 1) << (7 - bit)
            green |= ((code >> 1) & 1) << (7 - bit)
            blue |= ((code >> 2) & 1) << (7 - bit)
            code >>= 3
        palette += [red, green, blue]
    return palette


def _palette_mask(path: Path, indices: np.ndarray, palette: list) -> Path:
    image = Image.fromarray(indices.astype(np.uint8), "P")
    image.putpalette(palette)
    image.save(path)
    return path


def _cars() -> np.ndarray:
    indices = np.zeros((20, 24), np.uint8)
    indices[5:12, 6:15] = 7  # a car: VOC's grey entry
    return indices


def test_a_voc_mask_of_grey_classes_reads_as_its_indices_as_in_training(tmp_path):
    path = _palette_mask(tmp_path / "2007_000123.png", _cars(), voc_palette())
    assert tuple(voc_palette()[21:24]) == (128, 128, 128)  # the precondition: index 7 shows grey
    training = np.unique(read_mask(path, "labels"))
    scored = [segment.value for segment in read_label_volume(path).segments]
    assert training.tolist() == [0, 7]
    assert scored == [7]


def test_a_voc_reference_pairs_with_a_class_7_prediction(tmp_path):
    reference = _palette_mask(tmp_path / "truth.png", _cars(), voc_palette())
    Image.fromarray(_cars()).save(tmp_path / "pred.png")  # a grey PNG of label values, as sdseg segment writes
    report = score_files(str(tmp_path / "pred.png"), str(reference))
    assert [row["dice"] for row in report["segments"]] == [pytest.approx(1.0)]
    assert report["prediction_only"] == [] and report["reference_only"] == []


def test_a_grey_palette_still_reads_as_the_grey_level_shown(tmp_path):
    """A black-and-white mask stored with a grey palette (index 1 shows white): grey level 255, as in training."""
    grey = [0, 0, 0, 255, 255, 255]
    path = _palette_mask(tmp_path / "mask.png", (_cars() > 0).astype(np.uint8), grey)
    assert np.unique(read_mask(path, "grey")).tolist() == [0, 255]
    assert [segment.value for segment in read_label_volume(path).segments] == [255]
