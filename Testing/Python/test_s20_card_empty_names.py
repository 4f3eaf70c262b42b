"""A model card whose classes have empty (or blank) names is told so, not that the names repeat.

The duplicate-name check runs before each class's own checks (so ``["liver", "Liver "]`` gets the
duplicate message); two empty names compared equal there and got "given more than once".
"""

from __future__ import annotations

import pytest

from SDSegLogic.errors import ModelCardError
from SDSegLogic.model_card import SegmentClass
from engine_test_helpers import tiny_card


@pytest.mark.parametrize("names", [("", " "), ("", "")], ids=["empty-and-blank", "two-empty"])
def test_two_empty_class_names_are_called_empty(names):
    card = tiny_card(num_classes=3)
    classes = tuple(SegmentClass(n, k, (0.1 * k, 0.5, 0.5)) for k, n in enumerate(names, start=1))
    with pytest.raises(ModelCardError) as err:
        card.replace(classes=classes).validate()
    assert "more than once" not in str(err.value), err.value
    assert "name" in str(err.value), err.value


def test_repeated_real_names_still_get_the_duplicate_message():
    card = tiny_card(num_classes=3)
    classes = (SegmentClass("liver", 1, (0.1, 0.5, 0.5)), SegmentClass("Liver", 2, (0.2, 0.5, 0.5)))
    with pytest.raises(ModelCardError, match="more than once"):
        card.replace(classes=classes).validate()
