"""Segment again into a segmentation a person has worked on: their finished work is never erased.

Before, a run into a chosen output segmentation removed every SDSeg segment and wrote the new
result in its place, also one the user had corrected in the Segment Editor (which sets its status
to In progress on the first edit) or marked Completed after review: the manual work was lost
without a word. Now such a segment is kept as it is and the run's warnings name it; segments the
user made themselves (other ids) are never touched, even with a model class's name. Against
``Testing/Slicer/fake_slicer.py`` (MRML cannot exist outside 3D Slicer; its segment status copies
``vtkSlicerSegmentationsModuleLogic``'s ``Segmentation.Status`` tag); the last test runs the real
engine and the tiny two-class model through ``SDSegModuleLogic.process``.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import (  # noqa: F401 - manager, model_folder are pytest fixtures; puts SDSegLib on sys.path
    manager, model_folder, rerun_over_a_completed_segment,
)
from test_slicer_logic import CARD

SHAPE = (4, 6, 5)


def _scene(monkeypatch):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros(SHAPE, np.int16)))
    return fake, volume


def _user_segment(fake, node, volume, segment_id, name, mask):
    """What the Segment Editor's Add + Paint leaves: a segment of the user's own id, name and voxels."""
    node.GetSegmentation().AddEmptySegment(segment_id, name, (0.1, 0.8, 0.1))
    fake.util.updateSegmentBinaryLabelmapFromArray(mask, node, segment_id, volume)


@pytest.mark.parametrize("status", ["InProgress", "Completed", "Flagged"])
@pytest.mark.parametrize("region", [None, (2, 1, 3)])
def test_a_segment_a_person_worked_on_is_kept_and_named_in_the_warnings(monkeypatch, status, region):
    from SDSegLib.segmentation_writer import WARNINGS_ATTRIBUTE, write_segmentation

    fake, volume = _scene(monkeypatch)
    first = np.zeros(SHAPE, np.uint8)
    first[:, :3] = 1  # the AI's liver
    first[:, 4:] = 2  # the AI's spleen
    node = write_segmentation(first, CARD, volume)
    corrected = node.masks["sdseg_1_liver"].copy()
    corrected[:, 0] = 0  # the user corrects the AI's liver by hand ...
    fake.util.updateSegmentBinaryLabelmapFromArray(corrected, node, "sdseg_1_liver", volume)
    liver = node.GetSegmentation().GetSegment("sdseg_1_liver")
    statuses = fake.vtkSlicerSegmentationsModuleLogic
    statuses.SetSegmentStatus(liver, getattr(statuses, status))  # ... and the Segment Editor marks it
    lesion = np.zeros(SHAPE, np.uint8)
    lesion[1, 2, 2] = 1
    _user_segment(fake, node, volume, "Segment_1", "liver", lesion)  # their own segment, with a class's name
    again = np.zeros(SHAPE, np.uint8)  # the new run finds nothing
    write_segmentation(again, CARD, volume, node, region=region, warnings=["engine warning"])
    np.testing.assert_array_equal(node.masks["sdseg_1_liver"], corrected)  # before: replaced by the empty result
    assert statuses.GetSegmentStatus(liver) == getattr(statuses, status) and liver is node.GetSegmentation().GetSegment("sdseg_1_liver")
    np.testing.assert_array_equal(node.masks["Segment_1"], lesion)  # the user's own segment: never touched
    spleen = (first == 2).astype(np.uint8)
    spleen[slice(None) if region is None else slice(1, 3)] = 0  # a segment nobody worked on: replaced, as before
    np.testing.assert_array_equal(node.masks["sdseg_2_spleen"], spleen)
    stored = node.GetAttribute(WARNINGS_ATTRIBUTE).splitlines()
    assert stored[0] == "engine warning" and len(stored) == 2
    human = statuses.GetSegmentStatusAsHumanReadableString(getattr(statuses, status))
    assert "Segment 'liver' of 'CT SDSeg' was kept as it is" in stored[1] and f"its status is '{human}'" in stored[1]
    assert "set its status to 'Not started', or choose 'Create new segmentation'" in stored[1]
    statuses.SetSegmentStatus(liver, statuses.NotStarted)  # the user lets the AI replace it
    write_segmentation(again, CARD, volume, node)
    assert not node.masks["sdseg_1_liver"].any()
    (note,) = node.GetAttribute(WARNINGS_ATTRIBUTE).splitlines()  # only: the user's own "liver" is not this run's
    assert note.startswith("Segment 'liver' (id 'Segment_1')")
    assert node.GetSegmentation().GetSegment("sdseg_1_liver").GetName() == "liver (SDSeg)"


def test_process_keeps_a_completed_segment_and_says_so(monkeypatch, manager, model_folder):
    fake, volume = _scene(monkeypatch)
    volume.SetAndObserveImageData(type(volume)("x", np.random.default_rng(5).normal(0, 120, (3, 32, 32)).astype(
        np.int16)).GetImageData())
    logic, node, reviewed, job = rerun_over_a_completed_segment(fake, volume, manager, model_folder)
    assert logic.applyResult(job, volume, node) is node
    np.testing.assert_array_equal(node.masks["sdseg_1_liver"], reviewed)
    assert any("Segment 'liver'" in w and "'Completed'" in w for w in job.result_warnings)  # the panel shows these


def test_a_segmentation_stored_as_surfaces_is_refused_before_anything_changes(monkeypatch):
    """Before, the first SDSeg segment was removed, then Slicer's import failed: the user's segment was gone."""
    from SDSegLib.segmentation_writer import write_segmentation
    from SDSegLogic.errors import InputError

    fake, volume = _scene(monkeypatch)
    first = np.zeros(SHAPE, np.uint8)
    first[:, :3] = 1
    node = write_segmentation(first, CARD, volume)
    surfaces = fake.vtkSegmentationConverter.GetSegmentationClosedSurfaceRepresentationName()
    node.GetSegmentation().SetSourceRepresentationName(surfaces)  # e.g. loaded from a model file or an RT structure set
    before = {segment_id: (segment, node.masks[segment_id].copy()) for segment_id, segment in node.GetSegmentation().segments.items()}
    with pytest.raises(InputError, match=r"'CT SDSeg' stores its segments as 'Closed surface'.*left unchanged.*"
                                         r"Create new segmentation"):
        write_segmentation(np.zeros(SHAPE, np.uint8), CARD, volume, node)
    assert list(node.GetSegmentation().segments) == list(before)
    for segment_id, (segment, mask) in before.items():
        assert node.GetSegmentation().GetSegment(segment_id) is segment
        np.testing.assert_array_equal(node.masks[segment_id], mask)


@pytest.mark.parametrize("problem", ["surfaces", "other grid"])
def test_process_refuses_an_unusable_output_segmentation_before_the_run(monkeypatch, model_folder, problem):
    """Before, a chosen output stored as surfaces, or made for another grid, was refused only when
    the result was written: after the whole run (minutes for a CT). Now no engine even starts."""
    from SDSegLib.engine_runner import EngineManager
    from SDSegLib.module_logic import SDSegModuleLogic
    from SDSegLib.segmentation_writer import write_segmentation
    from SDSegLogic.errors import InputError

    fake, volume = _scene(monkeypatch)
    if problem == "surfaces":
        node = write_segmentation(np.zeros(SHAPE, np.uint8), CARD, volume)
        surfaces = fake.vtkSegmentationConverter.GetSegmentationClosedSurfaceRepresentationName()
        node.GetSegmentation().SetSourceRepresentationName(surfaces)
        match = "stores its segments as 'Closed surface'"
    else:
        import fake_slicer

        other = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("other", np.zeros((4, 6, 7), np.int16)))
        node = write_segmentation(np.zeros((4, 6, 7), np.uint8), CARD, other)
        match = "different voxel grid"
    engines = EngineManager(log=lambda line: None, extra_args=("--threads", "1"))
    try:
        logic = SDSegModuleLogic(engineManager=engines)
        with pytest.raises(InputError, match=match):
            logic.process(volume, node, model=str(model_folder), device="cpu")
        assert engines._process is None  # refused before any engine was started
    finally:
        engines.stop()
