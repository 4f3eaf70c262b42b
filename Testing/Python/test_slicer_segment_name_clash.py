"""Segment into a segmentation that already holds a person's segment with a model class's name.

A clinician drew "liver" by hand (Segment Editor: a segment of its own id) and chose that
segmentation as the output. Before, the run kept their segment (other ids are never touched) and
added SDSeg's "liver" next to it without a word: two segments called "liver", and nothing said
which one is the person's work (a DICOM SEG export then holds two "liver" segments too). Now the
person's segment is still untouched, SDSeg's segment is named apart ("liver (SDSeg)") and the run's
warnings, shown in the panel and stored with the node, name both. Against
``Testing/Slicer/fake_slicer.py`` (MRML cannot exist outside 3D Slicer); the last test runs the
real engine and the tiny two-class model through ``SDSegModuleLogic.process``.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path
from test_slicer_logic import CARD

SHAPE = (4, 6, 5)


def _scene(monkeypatch):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros(SHAPE, np.int16)))
    return fake, volume


def _hand_drawn(fake, volume, name="liver"):
    """A segmentation with the person's own segment (Segment Editor's Add + Paint: id Segment_1)."""
    node = fake.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Liver review")
    node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    node.GetSegmentation().AddEmptySegment("Segment_1", name, (0.1, 0.8, 0.1))
    mask = np.zeros(SHAPE, np.uint8)
    mask[1:3, 2:4, 1:4] = 1
    fake.util.updateSegmentBinaryLabelmapFromArray(mask, node, "Segment_1", volume)
    return node, mask


def _names(node):
    segmentation = node.GetSegmentation()
    return {segmentation.GetNthSegmentID(i): segmentation.GetNthSegment(i).GetName()
            for i in range(segmentation.GetNumberOfSegments())}


@pytest.mark.parametrize("drawn", ["liver", "Liver "])
@pytest.mark.parametrize("region", [None, (2, 1, 3)])
def test_sdseg_s_segment_is_named_apart_from_a_person_s_segment_of_that_name(monkeypatch, drawn, region):
    from SDSegLib.segmentation_writer import WARNINGS_ATTRIBUTE, kept_segment_notes, write_segmentation

    fake, volume = _scene(monkeypatch)
    node, mask = _hand_drawn(fake, volume, drawn)
    labels = np.zeros(SHAPE, np.uint8)
    labels[:, :3] = 1
    labels[:, 4:] = 2
    notes = kept_segment_notes(node, CARD)  # what applyResult puts in the run's warnings (the panel shows them)
    write_segmentation(labels, CARD, volume, node, region=region)
    np.testing.assert_array_equal(node.masks["Segment_1"], mask)  # the person's work, untouched
    names = _names(node)
    assert names["Segment_1"] == drawn and names["sdseg_2_spleen"] == "spleen"
    assert names["sdseg_1_liver"] == "liver (SDSeg)", names  # before: a second segment called "liver"
    assert len(notes) == 1 and notes[0] in node.GetAttribute(WARNINGS_ATTRIBUTE).splitlines()
    assert f"Segment '{drawn}' (id 'Segment_1') of 'Liver review'" in notes[0] and "'liver (SDSeg)'" in notes[0]
    write_segmentation(labels, CARD, volume, node)  # run again: the same names, no third segment
    assert _names(node) == names and kept_segment_notes(node, CARD) == notes


def test_no_note_and_the_class_name_when_no_other_segment_has_it(monkeypatch):
    from SDSegLib.segmentation_writer import kept_segment_notes, write_segmentation

    fake, volume = _scene(monkeypatch)
    node, _ = _hand_drawn(fake, volume, "lesion")
    assert kept_segment_notes(node, CARD) == []
    write_segmentation(np.ones(SHAPE, np.uint8), CARD, volume, node)
    assert _names(node) == {"Segment_1": "lesion", "sdseg_1_liver": "liver", "sdseg_2_spleen": "spleen"}
    node.GetSegmentation().GetSegment("Segment_1").SetName("liver")  # the person renames theirs later
    write_segmentation(np.ones(SHAPE, np.uint8), CARD, volume, node, region=(2, 0, 1))  # a slice-range run
    assert _names(node)["sdseg_1_liver"] == "liver (SDSeg)"


def test_process_names_the_two_livers_in_the_run_s_warnings(monkeypatch, manager, model_folder):
    fake, volume = _scene(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    volume.SetAndObserveImageData(type(volume)("x", np.random.default_rng(5).normal(0, 120, (3, 32, 32)).astype(
        np.int16)).GetImageData())
    node = fake.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Liver review")
    node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    node.GetSegmentation().AddEmptySegment("Segment_1", "liver", (0.1, 0.8, 0.1))
    drawn = np.zeros((3, 32, 32), np.uint8)
    drawn[1, 10:20, 10:20] = 1
    fake.util.updateSegmentBinaryLabelmapFromArray(drawn, node, "Segment_1", volume)
    logic = SDSegModuleLogic(engineManager=manager)
    job = logic.startJob(volume, model=str(model_folder), device="cpu", seed=2)
    assert job.wait(120)[-1].kind == "done"
    assert logic.applyResult(job, volume, node) is node
    np.testing.assert_array_equal(node.masks["Segment_1"], drawn)
    assert _names(node)["sdseg_1_liver"] == "liver (SDSeg)"
    assert any("Segment 'liver' (id 'Segment_1')" in w and "'liver (SDSeg)'" in w for w in job.result_warnings)
