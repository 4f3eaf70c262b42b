"""Segment all time points again into the segmentation of an earlier run: the person's corrections stay.

The all-time-points result is browsed with "save changes" on, so a correction made in the Segment
Editor at a time point is stored in that time point's item. A single-volume run never replaces a
segment a person worked on (Segment Editor status not "Not started") nor a segment of their own;
but a second all-time-points run into the same output segmentation replaced every time point with
the new result: a corrected and Completed liver at one time point, and a lesion the person drew at
another, were gone, without a word. Now each time point is written over the earlier run's item as a
single volume is written over a chosen segmentation: the person's segments are kept, and the run's
warnings (stored with the time point) name them.

Against ``Testing/Slicer/fake_slicer.py`` (its Sequences module is ``fake_slicer_sequences.py``;
Slicer's browser writes a proxy's edits into the selected item, as done here by hand), with the
real engine and the tiny two-class model through ``SDSegModuleLogic.process``.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path

pytest.importorskip("PySide6.QtWidgets")  # test_slicer_sequence's module needs it
from test_slicer_sequence import _logic, _sequence  # noqa: E402


def test_a_rerun_of_all_time_points_keeps_what_a_person_corrected_or_drew(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    proxy, browser, volumes = _sequence(fake)
    segmentation = logic.process(proxy, model=str(model_folder), device="cpu", allTimePoints=True, seed=1)
    sequence = browser.GetSequenceNode(segmentation)
    statuses = fake.vtkSlicerSegmentationsModuleLogic
    corrected_item = sequence.GetNthDataNode(1)  # time point 2: the liver corrected and marked Completed
    corrected = np.zeros_like(corrected_item.masks["sdseg_1_liver"])
    corrected[1, 8:20, 8:20] = 1
    corrected_item.masks["sdseg_1_liver"] = corrected.copy()
    statuses.SetSegmentStatus(corrected_item.GetSegmentation().GetSegment("sdseg_1_liver"), statuses.Completed)
    drawn_item = sequence.GetNthDataNode(2)  # time point 3: a lesion drawn by hand (the person's own segment)
    lesion = np.zeros_like(drawn_item.masks["sdseg_1_liver"])
    lesion[0, 3:6, 3:6] = 1
    drawn_item.GetSegmentation().AddEmptySegment("Segment_1", "lesion", (0.9, 0.9, 0.1))
    drawn_item.masks["Segment_1"] = lesion.copy()
    untouched = sequence.GetNthDataNode(0).masks["sdseg_2_spleen"].copy()

    again = logic.process(proxy, segmentation, model=str(model_folder), device="cpu", allTimePoints=True, seed=7)
    assert again is segmentation and browser.GetSequenceNode(again) is sequence and sequence.GetNumberOfDataNodes() == 3
    item = sequence.GetNthDataNode(1)
    np.testing.assert_array_equal(item.masks["sdseg_1_liver"], corrected)  # before: the new result replaced it
    assert statuses.GetSegmentStatus(item.GetSegmentation().GetSegment("sdseg_1_liver")) == statuses.Completed
    assert "Segment 'liver'" in item.GetAttribute("SDSeg.Warnings") and "'Completed'" in item.GetAttribute("SDSeg.Warnings")
    assert item.GetSegmentation().GetSegment("sdseg_2_spleen").GetTag("SDSeg.Seed") == "7"  # the rest is the new run's
    item = sequence.GetNthDataNode(2)
    assert "Segment_1" in item.masks, "the lesion drawn by hand was removed"
    np.testing.assert_array_equal(item.masks["Segment_1"], lesion)
    assert item.GetSegmentation().GetSegment("sdseg_1_liver").GetTag("SDSeg.Seed") == "7"
    first = sequence.GetNthDataNode(0)  # nobody worked on it: simply the new result
    assert first.GetSegmentation().GetSegment("sdseg_2_spleen").GetTag("SDSeg.Seed") == "7" and not first.GetAttribute(
        "SDSeg.Warnings")
    assert untouched.shape == first.masks["sdseg_2_spleen"].shape
    assert not any(n.hide_from_editors for n in fake.mrmlScene.nodes.values())  # no temporary node left behind
