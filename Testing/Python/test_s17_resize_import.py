"""Importing an official checkpoint for a named official dataset sets the card's input resize.

The official code resized each dataset's images its own way (``SDSegLogic.input_resize``); a
checkpoint does not record which, so ``import_official_checkpoint(dataset=...)`` takes the
official ``scripts/slice2seg.py --dataset`` name and writes the matching ``image_resize``.
"""

from __future__ import annotations

import pytest
import torch

from SDSegLogic.errors import ConfigError
from SDSegLogic.importers import import_official_checkpoint
from SDSegLogic.importers.official_checkpoint import OFFICIAL_IMAGE_RESIZE
from SDSegLogic.model_card import IMAGE_RESIZE_MODES, ModelCard
from engine_test_helpers import tiny_card, tiny_config, tiny_model
from test_importers import _official_state


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("official") / "kvasir.ckpt"
    torch.save({"state_dict": _official_state(tiny_model(seed=2))}, path)
    return path


@pytest.mark.parametrize("dataset, expected", [("kseg", "pillow-bicubic"), ("cvc", "pillow-bilinear"),
                                               ("refuge2-b", "pillow-bilinear"), ("sts-3d", "corners-bilinear"),
                                               ("synapse-b", "bilinear")])
def test_placeholder_card_takes_the_official_datasets_resize(checkpoint, tmp_path, dataset, expected):
    report = import_official_checkpoint(checkpoint, tmp_path / "model", config=tiny_config(), dataset=dataset)
    card = ModelCard.from_json(report.folder / "model_card.json")
    assert card.image_resize == expected
    assert "image_resize" not in card.task  # known: not among the fields left to complete


def test_without_a_dataset_the_placeholder_keeps_the_default_resize(checkpoint, tmp_path):
    report = import_official_checkpoint(checkpoint, tmp_path / "model", config=tiny_config())
    card = ModelCard.from_json(report.folder / "model_card.json")
    assert card.image_resize == "bilinear" and "image_resize" in card.task  # the user is told to check it


def test_every_official_dataset_names_a_card_resize():
    assert set(OFFICIAL_IMAGE_RESIZE.values()) <= set(IMAGE_RESIZE_MODES)


def test_unknown_dataset_is_refused_naming_the_known_ones_and_nothing_is_written(checkpoint, tmp_path):
    with pytest.raises(ConfigError, match="kvasir.*'cvc'.*'kseg'"):
        import_official_checkpoint(checkpoint, tmp_path / "model", config=tiny_config(), dataset="kvasir")
    assert not (tmp_path / "model").exists()


def test_a_card_contradicting_the_dataset_is_refused_and_a_matching_one_kept(checkpoint, tmp_path):
    with pytest.raises(ConfigError, match="'bilinear'.*'pillow-bicubic'"):
        import_official_checkpoint(checkpoint, tmp_path / "a", card=tiny_card(), config=tiny_config(), dataset="kseg")
    card = tiny_card().replace(image_resize="pillow-bicubic")
    report = import_official_checkpoint(checkpoint, tmp_path / "b", card=card, config=tiny_config(), dataset="kseg")
    saved = ModelCard.from_json(report.folder / "model_card.json")
    assert saved.image_resize == "pillow-bicubic" and saved.model_id == card.model_id
