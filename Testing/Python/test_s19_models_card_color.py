"""A class colour in model_card.json must be three numbers: text and booleans are refused, not read as numbers.

``float`` applied to each item read the string ``"100"`` as red (one number per character) and
``[true, false, false]`` as red too, so a typo in a hand-written card coloured a segment silently.
"""

from __future__ import annotations

import json

import pytest

from SDSegLogic.errors import ModelCardError
from SDSegLogic.model_card import ModelCard


def _card_file(tmp_path, color) -> "object":
    path = tmp_path / "model_card.json"
    path.write_text(json.dumps({"model_id": "tiny-test", "classes": [{"name": "liver", "label_value": 1, "color": color}]}),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("color", ["100", ["1", "0", "0"], [True, False, False]])
def test_a_colour_that_is_not_three_numbers_is_refused_naming_the_class(tmp_path, color):
    path = _card_file(tmp_path, color)
    with pytest.raises(ModelCardError) as refused:
        ModelCard.from_json(path)
    text = str(refused.value)
    assert str(path) in text and "'liver'" in text and "color" in text and "three numbers" in text


def test_integer_and_fractional_colours_still_read_as_floats(tmp_path):
    card = ModelCard.from_json(_card_file(tmp_path, [1, 0, 0.25]))
    assert card.classes[0].color == (1.0, 0.0, 0.25) and all(isinstance(c, float) for c in card.classes[0].color)
