"""Modality warnings for models whose card names a kind of picture ("fundus", "endoscopy", ...).

The model card documents ``"fundus"`` and ``"endoscopy"`` as modality values, but only DICOM codes
and ``photo`` were known: a CT volume given to a fundus model got no warning (an unknown modality
gives no note), and ``--strict`` let it through. Real tiny components are not needed: the rule is
the planner's own function, fed the values the readers and cards give.
"""

from __future__ import annotations

import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.segment_plan import modality_note


@pytest.mark.parametrize("card", ["fundus", "Endoscopy", "colonoscopy", "dermoscopy"])
@pytest.mark.parametrize("given", ["CT", "MR"])
def test_a_tomographic_volume_given_to_a_picture_model_is_warned_about(card, given):
    note = modality_note(card, given, source="ct.nrrd")
    assert note is not None and f"trained on {card} images" in note and f"a {given} image" in note
    with pytest.raises(InputError, match=f"trained on {card} images"):
        modality_note(card, given, strict=True, source="ct.nrrd", input_channels=3)


@pytest.mark.parametrize("given", ["photo", "OP", "XC", "ES"])
def test_pictures_given_to_a_picture_model_are_not_warned_about(given):
    assert modality_note("fundus", given, is_rgb=True) is None
    assert modality_note("endoscopy", given, is_rgb=True) is None


def test_an_unknown_card_modality_still_gives_no_note():
    assert modality_note("ultrasound-elastography-x", "CT") is None
