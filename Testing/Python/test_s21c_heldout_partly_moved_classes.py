"""``heldout eval`` refuses a config naming some of the card's classes at other places, as the export does.

``card_class_note`` refused only a full permutation of the card's classes. A card ``[liver, spleen, left
kidney]`` (a class renamed at export) evaluated with the config ``[liver, kidney, spleen]`` scored the
network's spleen against the config's kidney masks and its "left kidney" against the spleen masks, with
only a warning that the names differ; the export's own rule (``_check_class_places``) refuses such names.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from SDSegLogic.model_card import SegmentClass

from engine_test_helpers import tiny_card

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.card_classes import card_class_note  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402


def _card(*names: str):
    return tiny_card(len(names) + 1).replace(classes=tuple(SegmentClass(n, i) for i, n in enumerate(names, start=1)))


def test_a_class_at_another_place_is_refused_when_another_class_was_renamed(tmp_path):
    card = _card("liver", "spleen", "left kidney")
    with pytest.raises(TrainingConfigError, match="another order") as caught:
        card_class_note(tmp_path, card, ["liver", "kidney", "spleen"], multiclass=True)
    assert "['spleen'] stand at other places" in str(caught.value)


def test_a_renamed_class_at_its_own_place_is_only_reported(tmp_path):
    card = _card("liver", "left kidney", "spleen")
    note = card_class_note(tmp_path, card, ["liver", "kidney", "spleen"], multiclass=True)
    assert note is not None and "not the config's data.classes" in note
