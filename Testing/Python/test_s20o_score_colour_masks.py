"""``sdseg score`` with masks stored in colour: an RGB mask of grey pixels and a palette PNG are exact labelmaps.

A 0/255 mask saved as RGB (OpenCV and many dataset converters write 3 channels) and a PASCAL VOC style palette
PNG (the palette index is the class) were refused as "colour or vector voxels"; they are read as the training's
mask reader reads them: the grey level, and the palette index. Colour-coded RGB classes stay refused, with a
remedy. Masks are written with Pillow; Dice is checked against numpy's.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from SDSegLogic.cli_score import score_files
from SDSegLogic.errors import InputError

#: PASCAL VOC's first colours: background, aeroplane (1), bicycle (2)
VOC = [0, 0, 0, 128, 0, 0, 0, 128, 0]


def _classes(shift: int = 0) -> np.ndarray:
    """(40, 48) uint8 labels 0/1/2: two boxes, ``shift`` pixels to the right."""
    labels = np.zeros((40, 48), np.uint8)
    labels[5:20, 4 + shift:22 + shift] = 1
    labels[24:36, 20 + shift:44] = 2
    return labels


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.mark.parametrize("alpha", [False, True])
def test_an_rgb_mask_of_grey_pixels_scores_as_its_grey_levels(tmp_path, alpha):
    reference = np.where(_classes() > 0, 255, 0).astype(np.uint8)
    prediction = np.where(_classes(shift=3) > 0, 255, 0).astype(np.uint8)
    channels = [reference] * 3 + ([np.full_like(reference, 255)] if alpha else [])
    Image.fromarray(np.stack(channels, axis=-1)).save(tmp_path / "truth.png")
    Image.fromarray(prediction).save(tmp_path / "pred.png")
    report = score_files(str(tmp_path / "pred.png"), str(tmp_path / "truth.png"))
    assert [s["reference_segment"] for s in report["segments"]] == ["label 255"]
    assert report["segments"][0]["dice"] == pytest.approx(_dice(prediction > 0, reference > 0))


def test_a_voc_palette_mask_scores_by_palette_index(tmp_path):
    reference, prediction = _classes(), _classes(shift=3)
    for name, labels in (("truth.png", reference), ("pred.png", prediction)):
        picture = Image.fromarray(labels).convert("P")
        picture.putpalette(VOC + [0] * (768 - len(VOC)))
        picture.save(tmp_path / name)
    report = score_files(str(tmp_path / "pred.png"), str(tmp_path / "truth.png"))
    dice = {s["reference_segment"]: s["dice"] for s in report["segments"]}
    assert dice == pytest.approx({f"label {v}": _dice(prediction == v, reference == v) for v in (1, 2)})


def test_a_palette_mask_pairs_with_a_grey_png_of_the_same_labels(tmp_path):
    reference = _classes()
    picture = Image.fromarray(reference).convert("P")
    picture.putpalette(VOC + [0] * (768 - len(VOC)))
    picture.save(tmp_path / "truth.png", transparency=0)  # VOC-style files may mark the background transparent
    Image.fromarray(reference).save(tmp_path / "pred.png")
    report = score_files(str(tmp_path / "pred.png"), str(tmp_path / "truth.png"))
    assert [(s["reference_segment"], s["dice"]) for s in report["segments"]] == [("label 1", 1.0), ("label 2", 1.0)]


def test_colour_coded_rgb_classes_are_refused_naming_a_colour_and_the_remedy(tmp_path):
    colours = np.zeros((40, 48, 3), np.uint8)
    colours[_classes() == 1] = (255, 0, 0)
    colours[_classes() == 2] = (0, 255, 0)
    Image.fromarray(colours).save(tmp_path / "truth.png")
    Image.fromarray(_classes()).save(tmp_path / "pred.png")
    with pytest.raises(InputError, match=r"truth\.png: a colour mask \(RGB \(255, 0, 0\).*palette PNG"):
        score_files(str(tmp_path / "pred.png"), str(tmp_path / "truth.png"))


def test_a_16_bit_png_keeps_labels_above_255(tmp_path):
    labels = _classes().astype(np.uint16) * 300  # 300 and 600
    Image.fromarray(labels).save(tmp_path / "truth.png")
    Image.fromarray(labels).save(tmp_path / "pred.png")
    report = score_files(str(tmp_path / "pred.png"), str(tmp_path / "truth.png"))
    assert [s["reference_segment"] for s in report["segments"]] == ["label 300", "label 600"]
