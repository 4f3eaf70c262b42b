"""A config's ``unet.num_classes`` and a model card's classes follow one rule (the method's K classes).

The method (spec, "Multi-class"): a multi-class network has K classes, class 0 being the union of all
foreground, so K = foreground classes + 1; one foreground class is a binary model (one class in the
card, ``num_classes`` null). ``unet.num_classes=2`` was accepted by the config although no card can
fit it (a one-class card counts as binary): an official checkpoint whose ``label_emb`` has two rows
was converted, then refused while being saved with "fix the card's classes", which no edit of the
card could satisfy. Now the config refuses K < 3 and the importer names the checkpoint.
"""

from __future__ import annotations

import json

import pytest
import torch
from engine_test_helpers import tiny_card, tiny_config, tiny_model
from test_importers import _official_state

from SDSegLogic.config import SDSegConfig
from SDSegLogic.errors import ConfigError
from SDSegLogic.importers import import_official_checkpoint
from SDSegLogic.model_folder import load_model_folder, save_model_folder


@pytest.mark.parametrize("classes", [1, 2])
def test_a_config_with_fewer_than_three_network_classes_is_refused_with_the_rule(classes, tmp_path):
    data = tiny_config().to_dict()
    data["unet"]["num_classes"] = classes
    (tmp_path / "config.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        SDSegConfig.from_json(tmp_path / "config.json")
    text = str(caught.value)
    assert f"unet.num_classes={classes}" in text and "foreground classes + 1 >= 3" in text and "use null" in text


def test_every_accepted_class_count_has_a_card_that_fits_it(tmp_path):
    for k in (None, 3, 4):  # the config's accepted counts: each one is saved with the card of K - 1 classes
        folder = save_model_folder(tmp_path / f"m{k}", tiny_model(k), tiny_card(k))
        model, card = load_model_folder(folder)
        assert card.num_network_classes == (model.config.unet.num_classes or 1)


def test_an_official_checkpoint_with_two_class_rows_is_refused_naming_it_before_writing(tmp_path):
    state = _official_state(tiny_model(3))
    key = "model.diffusion_model.label_emb.weight"
    state[key] = state[key][:2].clone()  # two rows: one foreground class and its union
    ckpt = tmp_path / "two-rows.ckpt"
    torch.save({"state_dict": state}, ckpt)
    with pytest.raises(ConfigError) as caught:
        import_official_checkpoint(ckpt, tmp_path / "out")
    text = str(caught.value)
    assert str(ckpt) in text and "label_emb has 2 row(s)" in text and "binary" in text
    assert not (tmp_path / "out").exists()
