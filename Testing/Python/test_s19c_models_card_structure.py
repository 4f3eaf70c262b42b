"""A model card with a missing or misspelt required key is refused with a message a person can act on.

A card without ``model_id`` said ``malformed entry (ModelCard.__init__() missing 1 required positional
argument: 'model_id')``, a class without ``name`` said ``malformed entry ('name')``, and both sent the
reader to Resources/models.schema.json, the registry's schema, which does not describe model cards.
A misspelt class key (``"colour"``) was silently ignored: the segment came out grey.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from SDSegLogic.errors import ModelCardError
from SDSegLogic.model_card import ModelCard

from engine_test_helpers import tiny_card

_REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path, edit) -> str:
    data = tiny_card().to_dict()
    edit(data)
    path = tmp_path / "model_card.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize("edit, named", [
    (lambda d: d.pop("model_id"), "model_id"),
    (lambda d: d["classes"][0].pop("name"), "name"),
    (lambda d: d["classes"][0].pop("label_value"), "label_value"),
    (lambda d: d["classes"][0].update(colour=[1.0, 0.0, 0.0]), "'colour'"),
    (lambda d: d["classes"][0].update(terminology=[["SCT", "10200004", "Liver"]]), "terminology"),
    (lambda d: d.update(classes={"liver": 1}), "classes"),
    (lambda d: d.update(intensity={"kind": "window", "lo": -100, "high": 200}), "'lo'"),
])
def test_missing_or_misspelt_keys_are_named_with_an_example(tmp_path, edit, named):
    path = _write(tmp_path, edit)
    with pytest.raises(ModelCardError) as caught:
        ModelCard.from_json(path)
    message = str(caught.value)
    assert message.startswith(path) and named in message
    assert "__init__" not in message and "models.schema.json" not in message
    assert any(hint in message for hint in ("e.g.", "such as", "known keys", "compare with"))


def test_the_example_card_the_messages_name_exists_and_loads():
    card = _REPO / "Resources" / "Models" / "sdseg-demo-ct-lite" / "model_card.json"
    assert ModelCard.from_json(card).classes
