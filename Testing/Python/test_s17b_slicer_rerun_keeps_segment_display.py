"""Segment again into the same segmentation: SDSeg's own segments keep their place, colour and display.

A re-run into a chosen segmentation node replaced each "Not started" SDSeg segment by removing it
and adding a new one: the segments moved to the end of the segment list (after the user's own
segments), and the colour, visibility and opacity the user had given them went back to the model
card's defaults. Now only their content (voxels), name, terminology and run tags are replaced; a
run tag of the earlier run that this one does not write (``SDSeg.Slices`` of a slice-range run)
goes, as it went with the removed segment.

Against ``Testing/Slicer/fake_slicer.py`` (MRML cannot exist outside 3D Slicer): its segmentation
display node keeps per-segment properties as Slicer's does, dropped with a removed segment.
"""

from __future__ import annotations

import numpy as np

from slicer_logic_helpers import REPO  # noqa: F401 - puts SDSegLib on sys.path
from test_slicer_logic import CARD

SHAPE = (4, 6, 5)


def test_a_rerun_keeps_segment_order_colour_visibility_and_opacity(monkeypatch):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.segmentation_writer import write_segmentation

    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros(SHAPE, np.int16)))
    first = np.zeros(SHAPE, np.uint8)
    first[:, :3] = 1
    first[:, 4:] = 2
    node = write_segmentation(first, CARD, volume, tags={"Seed": 0, "Slices": "k 1..2"})
    segmentation, display = node.GetSegmentation(), node.GetDisplayNode()
    segmentation.AddEmptySegment("Segment_1", "lesion", (0.1, 0.8, 0.1))  # the user's own, after SDSeg's
    fake.util.updateSegmentBinaryLabelmapFromArray(np.zeros(SHAPE, np.uint8), node, "Segment_1", volume)
    segmentation.GetSegment("sdseg_2_spleen").SetColor(0.0, 0.0, 1.0)  # the user recolours the spleen ...
    display.SetSegmentVisibility("sdseg_1_liver", False)  # ... hides the liver
    display.SetSegmentOpacity("sdseg_2_spleen", 0.25)  # ... and makes the spleen see-through
    order = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]

    again = np.zeros(SHAPE, np.uint8)
    again[:, 1:] = 2  # the new result: no liver, a larger spleen
    assert write_segmentation(again, CARD, volume, node, tags={"Seed": 7}) is node

    now = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    assert now == order, f"segment order changed: {order} -> {now}"  # before: the SDSeg segments moved to the end
    assert segmentation.GetSegment("sdseg_2_spleen").GetColor() == (0.0, 0.0, 1.0)  # before: the card's colour again
    assert display.GetSegmentVisibility("sdseg_1_liver") is False  # before: visible again
    assert display.GetSegmentOpacity("sdseg_2_spleen") == 0.25  # before: opaque again
    np.testing.assert_array_equal(node.masks["sdseg_1_liver"], (again == 1).astype(np.uint8))  # the content is replaced
    np.testing.assert_array_equal(node.masks["sdseg_2_spleen"], (again == 2).astype(np.uint8))
    liver = segmentation.GetSegment("sdseg_1_liver")
    assert liver.GetName() == "liver" and liver.GetTag("SDSeg.Seed") == "7"
    assert liver.GetTag("SDSeg.Slices") is None  # the whole volume was segmented this time
    assert liver.GetTag("TerminologyEntry") and "Liver" in liver.GetTag("TerminologyEntry")
