"""A chosen output segmentation under another transform than the input is refused, not moved with its segments.

The writer puts the segmentation under the input volume's parent transform, so that the result
lines up with the input. For a chosen output that already holds segments under another transform
(or none), that moved the whole node: a clinician whose CT sits under a registration transform and
whose own segmentation (drawn in the Segment Editor, not transformed) was chosen as output found
their own segments (and a reviewed segment SDSeg keeps) displaced by the transform, although
segments made by a person are never to be touched. Now such an output is refused before the run
and before writing, with nothing changed, and the message says what to do; an empty chosen node
(just made with the selector) still simply goes under the input's transform.

Against ``Testing/Slicer/fake_slicer.py`` (MRML cannot be installed without 3D Slicer).
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - puts SDSegLib on sys.path
from test_slicer_logic import CARD

SHAPE = (4, 6, 5)
REGISTRATION = "vtkMRMLLinearTransformNode7"


def _scene(monkeypatch):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros(SHAPE, np.int16)))
    volume.SetAndObserveTransformNodeID(REGISTRATION)  # the CT was registered to another image
    return fake, volume


def _users_segmentation(fake, volume):
    """The clinician's segmentation of the CT, made in the Segment Editor (not under the CT's transform)."""
    node = fake.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Tumour")
    node.CreateDefaultDisplayNodes()
    node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    node.GetSegmentation().AddEmptySegment("Segment_1", "tumour", (0.9, 0.2, 0.2))
    mask = np.zeros(SHAPE, np.uint8)
    mask[1, 2, 2] = 1
    fake.util.updateSegmentBinaryLabelmapFromArray(mask, node, "Segment_1", volume)
    return node


def test_a_chosen_output_with_segments_under_another_transform_is_refused_unchanged(monkeypatch):
    from SDSegLib.segmentation_writer import check_output_volumes, write_segmentation
    from SDSegLogic.errors import InputError

    fake, volume = _scene(monkeypatch)
    node = _users_segmentation(fake, volume)
    before = {key: mask.copy() for key, mask in node.masks.items()}
    with pytest.raises(InputError, match="transform") as refused:
        check_output_volumes(volume, segmentation=node)  # when Segment is pressed: before the run
    assert "Tumour" in str(refused.value) and "Create new segmentation" in str(refused.value)
    labels = np.ones(SHAPE, np.uint8)
    with pytest.raises(InputError, match="transform"):
        write_segmentation(labels, CARD, volume, node)  # and when the result is written
    assert node.GetTransformNodeID() is None, "the person's segmentation was moved under the CT's transform"
    assert list(node.GetSegmentation().segments) == ["Segment_1"]
    assert set(node.masks) == set(before) and all(np.array_equal(node.masks[k], before[k]) for k in before)


def test_an_empty_chosen_output_and_one_under_the_same_transform_are_written(monkeypatch):
    from SDSegLib.segmentation_writer import write_segmentation

    fake, volume = _scene(monkeypatch)
    empty = fake.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "new")  # "Create new segmentation" of the selector
    labels = np.zeros(SHAPE, np.uint8)
    labels[0, 0, 0] = 1
    assert write_segmentation(labels, CARD, volume, empty) is empty and empty.GetTransformNodeID() == REGISTRATION
    node = _users_segmentation(fake, volume)
    node.SetAndObserveTransformNodeID(REGISTRATION)  # made under the CT's transform: nothing moves
    write_segmentation(labels, CARD, volume, node)
    assert "Segment_1" in node.GetSegmentation().segments and node.masks["sdseg_1_liver"][0, 0, 0] == 1


def test_all_time_points_again_into_an_earlier_run_of_a_transformed_4d_ct(monkeypatch, manager, model_folder):
    """The time points of an earlier run live in the browsed CT's frame: written again, nothing moves or is refused."""
    pytest.importorskip("PySide6.QtWidgets")  # test_slicer_sequence's module needs it
    from test_slicer_sequence import _logic, _sequence

    fake, logic = _logic(monkeypatch, manager)
    proxy, browser, _volumes = _sequence(fake)
    proxy.SetAndObserveTransformNodeID(REGISTRATION)  # the 4D CT was registered to another image
    segmentation = logic.process(proxy, model=str(model_folder), device="cpu", allTimePoints=True, seed=1)
    assert segmentation.GetTransformNodeID() == REGISTRATION
    sequence = browser.GetSequenceNode(segmentation)
    drawn_item = sequence.GetNthDataNode(1)  # a lesion the person drew at time point 2
    lesion = np.zeros_like(drawn_item.masks["sdseg_1_liver"])
    lesion[0, 3:6, 3:6] = 1
    drawn_item.GetSegmentation().AddEmptySegment("Segment_1", "lesion", (0.9, 0.9, 0.1))
    drawn_item.masks["Segment_1"] = lesion.copy()
    again = logic.process(proxy, segmentation, model=str(model_folder), device="cpu", allTimePoints=True, seed=7)
    assert again is segmentation and again.GetTransformNodeID() == REGISTRATION
    item = sequence.GetNthDataNode(1)
    np.testing.assert_array_equal(item.masks["Segment_1"], lesion)
    assert item.GetSegmentation().GetSegment("sdseg_1_liver").GetTag("SDSeg.Seed") == "7"
