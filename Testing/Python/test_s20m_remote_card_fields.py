"""A remote engine's model card whose classes or orientation are malformed, or labels its card does not know.

The Slicer panel writes a remote run's labels with the card from the engine's ``info`` reply
(:mod:`SDSegLib.remote_card`): one segment per class, named from it, with its label value. A card
class without a ``name`` raised a bare KeyError once the run had ended (the result was lost); a
label value the card does not list was dropped without a word (voxels the engine segmented vanished
from the result). These are now refused with a message naming the card field or the label values.

Uses the fake remote engine of ``test_s20m_remote_result_frame`` (a real TCP socket, the real client
and the real Slicer logic against ``Testing/Slicer/fake_slicer.py``).
"""

from __future__ import annotations

import pytest

from slicer_logic_helpers import manager  # noqa: F401 - puts SDSegLib on sys.path; a pytest fixture
from test_s20m_remote_result_frame import CARD, _process


def _card(**classes_or_fields):
    card = dict(CARD)
    card.update(classes_or_fields)
    return card


def _labels_with(value):
    def change(header, arrays):
        arrays["labels"] = arrays["labels"].copy()
        arrays["labels"][0, 0, 0] = value

    return change


def test_labels_the_card_does_not_list_are_refused(monkeypatch, manager):
    from SDSegLogic.errors import SDSegError

    _, _, outcome = _process(monkeypatch, manager, _labels_with(3))
    assert isinstance(outcome, SDSegError), outcome  # before: written, the voxel of label 3 silently dropped
    assert "3" in str(outcome) and "classes" in str(outcome), str(outcome)


@pytest.mark.parametrize("classes,field", [
    ([{"label_value": 1}], "name"), ([{"name": "organ", "label_value": "one"}], "label_value"),
    ([{"name": "organ", "label_value": 1.5}], "label_value"), ([{"name": "organ", "label_value": 300}], "label_value"),
    ("organ", "classes"), ([7], "classes"),
    ([{"name": "a", "label_value": 1}, {"name": "b", "label_value": 1}], "label_value"),
])
def test_malformed_card_classes_are_refused_naming_the_field(monkeypatch, manager, classes, field):
    from SDSegLogic.errors import SDSegError

    _, _, outcome = _process(monkeypatch, manager, lambda header, arrays: None, card=_card(classes=classes))
    assert isinstance(outcome, SDSegError), repr(outcome)  # before: KeyError, ValueError, TypeError, or written
    assert field in str(outcome) and "fake-remote" in str(outcome), str(outcome)



@pytest.mark.parametrize("card", ["fake-remote", ["fake-remote"], 7])
def test_a_model_card_that_is_no_object_is_refused_naming_it(monkeypatch, manager, card):
    """``info.model_card`` of another shape: ``dict(card)`` raised ValueError/TypeError after the run, losing it."""
    from SDSegLogic.errors import SDSegError

    _, _, outcome = _process(monkeypatch, manager, lambda header, arrays: None, card=card)
    assert isinstance(outcome, SDSegError), repr(outcome)
    assert "model_card" in str(outcome) and repr(card) in str(outcome), str(outcome)
