"""Two spellings of one terminology role with different codes are refused, not silently reduced to one.

A card may spell a role several ways (``type_modifier``, ``typeModifier``, ``modifier``); the writers read
the first spelling found (:func:`SDSegLogic.terminology.segment_codes`). A card giving ``type_modifier``
"Left" and ``modifier`` "Right" for one class was accepted and its segment written as "Left", the other
code dropped without a word.
"""

from __future__ import annotations

import pytest

from SDSegLogic.errors import ModelCardError
from SDSegLogic.model_card import ModelCard
from SDSegLogic.terminology import ROLES, segment_codes

_CATEGORY = ["SCT", "123037004", "Anatomical Structure"]
_KIDNEY = ["SCT", "64033007", "Kidney"]
_LEFT, _RIGHT = ["SCT", "7771000", "Left"], ["SCT", "24028007", "Right"]


def _card(terminology: dict) -> ModelCard:
    return ModelCard.from_dict({"model_id": "kidneys", "classes": [
        {"name": "kidney", "label_value": 1, "color": [1, 0, 0], "terminology": terminology}]}, source="card.json")


@pytest.mark.parametrize("first, second", [("type_modifier", "modifier"), ("typeModifier", "type_modifier"),
                                           ("region", "anatomicRegion")])
def test_two_spellings_of_one_role_with_different_codes_are_refused(first, second):
    assert any({first, second} <= set(aliases) for aliases in ROLES.values())  # one role, two spellings
    with pytest.raises(ModelCardError) as caught:
        _card({"category": _CATEGORY, "type": _KIDNEY, first: _LEFT, second: _RIGHT})
    text = str(caught.value)
    assert text.startswith("card.json") and repr(first) in text and repr(second) in text and "Right" in text


def test_two_spellings_with_the_same_code_and_one_spelling_still_load():
    same = _card({"category": _CATEGORY, "type": _KIDNEY, "type_modifier": _LEFT, "typeModifier": _LEFT})
    assert segment_codes(same.classes[0].terminology)["type_modifier"] == tuple(_LEFT)
    one = _card({"category": _CATEGORY, "type": _KIDNEY, "modifier": _RIGHT})
    assert segment_codes(one.classes[0].terminology)["type_modifier"] == tuple(_RIGHT)
