"""A model card's text fields are strings and its free-form records objects, as documented.

``task``, ``modality``, ``license``, ``description`` and ``intended_use`` are text shown to users
(models.schema.json gives the registry's copies as strings); ``training`` and ``fast_decoder`` are
objects. A card with ``"intended_use": null`` (the "Research use only. Not a medical device"
statement gone), ``"modality": 5`` or ``"training": [1]`` was accepted, and ``sdseg models verify``
said OK. Such a card is now refused naming the field.
"""

from __future__ import annotations

import json

import pytest
from cli_test_helpers import make_model_folder

from SDSegLogic.cli import main
from SDSegLogic.errors import ModelCardError
from SDSegLogic.model_card import ModelCard


@pytest.mark.parametrize("key, value", [
    ("intended_use", None), ("modality", 5), ("task", ["segment"]), ("license", None), ("description", {"a": 1}),
    ("training", [1]), ("fast_decoder", "distilled"),
])
def test_a_card_with_a_mistyped_field_is_refused_naming_it(tmp_path, capsys, key, value):
    folder = make_model_folder(tmp_path / "model")
    card = json.loads((folder / "model_card.json").read_text(encoding="utf-8"))
    card[key] = value
    (folder / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelCardError) as caught:
        ModelCard.from_json(folder / "model_card.json")
    assert f"{key} {value!r} must be" in str(caught.value) and "model_card.json" in str(caught.value)
    assert main(["models", "verify", str(folder)]) != 0
    assert key in capsys.readouterr().out


def test_a_complete_card_round_trips(tmp_path):
    folder = make_model_folder(tmp_path / "model")
    card = ModelCard.from_json(folder / "model_card.json")
    again = ModelCard.from_dict(json.loads(json.dumps(card.to_dict())))
    assert again == card and isinstance(again.intended_use, str) and again.intended_use
