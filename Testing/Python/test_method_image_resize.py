"""The engine resizes a model's input as its training images were resized: the card's ``image_resize``.

The paper's code resizes Kvasir-SEG images bicubic and the other datasets bilinear, and the
training package does the same; the engine always used bilinear, so a Kvasir model saw inputs it
was not trained on. A training run now records the resize in the exported card and the engine
follows it. Real MONAI resize (the training package's) against the engine's, real loaders on a
tiny Kvasir-SEG folder in its documented layout.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from SDSegLogic.model_card import IntensityMapping, ModelCard, ModelCardError, SegmentClass
from SDSegLogic.preprocessing import network_input
from sdseg_training.config import DataSection
from sdseg_training.data import load_data
from sdseg_training.data.preprocess import resize_images, rgb_to_unit

RGB = IntensityMapping("rgb")


def _card(**changes) -> ModelCard:
    return ModelCard(model_id="polyp", modality="endoscopy", input_channels=3, intensity=RGB,
                     classes=(SegmentClass("polyp", 1),), **changes)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_engine_input_equals_the_training_resize_of_the_card(mode):
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (2, 70, 90, 3)).astype(np.uint8)
    photo[:, 20:40, 30:60] = (230, 40, 60)  # a sharp-edged polyp-coloured patch: the filters differ there
    engine = network_input(photo, "rgb", RGB, 32, resize=_card(image_resize=mode).image_resize)
    training = resize_images(np.stack([rgb_to_unit(p) for p in photo]), 32, mode)
    assert np.abs(engine - training).max() < 1e-5
    other = resize_images(np.stack([rgb_to_unit(p) for p in photo]), 32, "bicubic" if mode == "bilinear" else "bilinear")
    assert np.abs(engine - other).max() > 0.05  # the two modes are told apart


def test_the_card_keeps_a_bicubic_resize_and_leaves_the_default_out(tmp_path):
    assert "image_resize" not in _card().to_dict()  # older engines refuse unknown keys: the default stays implicit
    _card(image_resize="bicubic").to_json(tmp_path / "model_card.json")
    assert json.loads((tmp_path / "model_card.json").read_text())["image_resize"] == "bicubic"
    assert ModelCard.from_json(tmp_path / "model_card.json").image_resize == "bicubic"
    with pytest.raises(ModelCardError, match="image_resize 'lanczos'"):
        _card(image_resize="lanczos")


def test_a_kvasir_dataset_records_its_bicubic_resize(tmp_path):
    from PIL import Image

    for i in range(5):
        rgb = np.full((40, 48, 3), 60 + i, np.uint8)
        mask = np.zeros((40, 48), np.uint8)
        mask[10:25, 12:30] = 255
        for folder, array in (("images", rgb), ("masks", mask)):
            (tmp_path / "kvasir" / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(tmp_path / "kvasir" / folder / f"cju{i}.jpg")
    kvasir = DataSection(kind="kvasir", root=str(tmp_path / "kvasir"), size=32, val_fraction=0.2, test_fraction=0.2)
    info, _, _ = load_data(kvasir, tmp_path / "run", parts=())
    assert info.image_resize == "bicubic"
