"""A slice-range re-run names SDSeg's segment by the rule again once the name clash that renamed it is gone.

A clinician drew "liver" by hand in the output segmentation, so the first run named SDSeg's segment
"liver (SDSeg)" (:mod:`SDSegLib.segment_names`). They then deleted (or renamed) their own segment and
re-ran a few slices: the SDSeg segment (same id, same list place, the rest of its slices kept) still
said "liver (SDSeg)" although no other segment is called "liver" any more, while a whole-volume
re-run names it "liver". A name the user gave the segment themselves is kept by a range re-run.
Against ``Testing/Slicer/fake_slicer.py`` (MRML cannot exist outside 3D Slicer).
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - puts SDSegLib on sys.path
from test_slicer_logic import CARD
from test_slicer_segment_name_clash import SHAPE, _hand_drawn, _names, _scene


def _labels():
    labels = np.zeros(SHAPE, np.uint8)
    labels[:, :3] = 1
    labels[:, 4:] = 2
    return labels


@pytest.mark.parametrize("gone", ["deleted", "renamed"])
def test_a_range_rerun_after_the_clash_is_gone_names_the_segment_by_the_class(monkeypatch, gone):
    from SDSegLib.segmentation_writer import kept_segment_notes, write_segmentation

    fake, volume = _scene(monkeypatch)
    node, _ = _hand_drawn(fake, volume, "liver")
    write_segmentation(_labels(), CARD, volume, node)
    assert _names(node)["sdseg_1_liver"] == "liver (SDSeg)"
    before = node.masks["sdseg_1_liver"].copy()
    if gone == "deleted":
        node.GetSegmentation().RemoveSegment("Segment_1")
    else:
        node.GetSegmentation().GetSegment("Segment_1").SetName("liver, hand-drawn")
    assert kept_segment_notes(node, CARD) == []  # nothing clashes any more
    write_segmentation(np.zeros(SHAPE, np.uint8), CARD, volume, node, region=(2, 0, 1))  # a slice-range re-run
    assert _names(node)["sdseg_1_liver"] == "liver", _names(node)  # before: still "liver (SDSeg)"
    np.testing.assert_array_equal(node.masks["sdseg_1_liver"][1:], before[1:])  # the other slices kept


def test_a_range_rerun_keeps_a_name_the_user_gave_sdseg_s_segment(monkeypatch):
    from SDSegLib.segmentation_writer import write_segmentation

    fake, volume = _scene(monkeypatch)
    node, _ = _hand_drawn(fake, volume, "liver")
    write_segmentation(_labels(), CARD, volume, node)
    node.GetSegmentation().RemoveSegment("Segment_1")
    node.GetSegmentation().GetSegment("sdseg_1_liver").SetName("liver (SDSeg) reviewed by AB")  # the user's own name
    write_segmentation(_labels(), CARD, volume, node, region=(2, 0, 1))
    assert _names(node)["sdseg_1_liver"] == "liver (SDSeg) reviewed by AB"
