"""A class name with a control character is refused by the model card.

``"liver\\tleft"`` was accepted; the .seg.nrrd writer turns control characters into spaces (a header
line cannot hold them), so the file named the segment ``"liver left"`` while the result, the scores
and Slicer used the card's name: the same segment under two names.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.errors import ModelCardError
from SDSegLogic.io.seg_nrrd import seg_nrrd_fields
from SDSegLogic.model_card import SegmentClass

from engine_test_helpers import tiny_card


@pytest.mark.parametrize("name", ["liver\tleft", "liver\n", "liver\x00"])
def test_control_characters_in_a_class_name_are_refused(name):
    card = tiny_card()
    with pytest.raises(ModelCardError, match="control character") as caught:
        card.replace(classes=(SegmentClass(name, 1),))
    assert repr(name) in str(caught.value)


def test_a_printable_name_is_written_as_given():
    card = tiny_card().replace(classes=(SegmentClass("left kidney (ren sinister)", 1),))
    fields = seg_nrrd_fields(np.ones((1, 2, 2), np.uint8), card, None)
    assert fields["Segment0_Name"] == card.classes[0].name
