"""All time points into a segmentation holding a person's own segments: refused before the run, nothing lost.

"All time points" makes the chosen output segmentation the proxy node of the new segmentation
sequence, and a proxy node shows the selected time point's item: Slicer copies the item into it
(``vtkSlicerSequencesLogic::UpdateProxyNodesFromSequences``). A segmentation a person had drawn
(a lesion, not in any sequence) chosen as output therefore lost every segment of its own without
a word: they were in no time point either. The single-volume path never touches such segments.
Now such an output is refused when Segment is pressed, naming its segments, before any engine
work; an empty segmentation (the selector's "Create new segmentation as...") is still taken.

Against ``Testing/Slicer/fake_slicer.py`` (its Sequences module, ``fake_slicer_sequences.py``,
copies an item into the proxy node as Slicer does), with the real engine and the tiny model.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path
from SDSegLogic.errors import InputError

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import _idle_panel, _until, app, engines, sdseg, tiny_model  # noqa: E402,F401 - fixtures
from test_slicer_sequence import _logic, _sequence  # noqa: E402

SHAPES = ((2, 32, 32),) * 3


def _drawn(fake, proxy):
    """A segmentation a person drew on the shown time point: one 'lesion' segment."""
    lesions = fake.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "lesions")
    lesions.SetReferenceImageGeometryParameterFromVolumeNode(proxy)
    lesions.GetSegmentation().AddEmptySegment("Segment_1", "lesion", (0.9, 0.9, 0.1))
    mask = np.zeros((2, 32, 32), np.uint8)
    mask[1, 4:9, 6:12] = 1
    lesions.masks["Segment_1"] = mask
    return lesions, mask.copy()


def test_process_refuses_a_segmentation_with_segments_of_its_own(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    proxy, browser, volumes = _sequence(fake, shapes=SHAPES)
    lesions, mask = _drawn(fake, proxy)
    with pytest.raises(InputError, match=r"'lesions' holds 1 segment\(s\) of its own \('lesion'\)"):
        logic.process(proxy, lesions, model=str(model_folder), device="cpu", allTimePoints=True)
    assert list(lesions.GetSegmentation().segments) == ["Segment_1"] and list(lesions.masks) == ["Segment_1"]
    np.testing.assert_array_equal(lesions.masks["Segment_1"], mask)
    assert browser.sequences == [volumes] and browser.GetSequenceNode(lesions) is None
    assert not any("Segmented time point" in line for line in logic.drainLog())  # refused before any engine work
    empty = fake.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "empty")  # "Create new segmentation as..."
    assert logic.process(proxy, empty, model=str(model_folder), device="cpu", allTimePoints=True) is empty
    assert browser.GetSequenceNode(empty).GetNumberOfDataNodes() == 3


def test_the_panel_refuses_it_when_segment_is_pressed(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    proxy, browser, volumes = _sequence(fake, shapes=SHAPES)
    lesions, mask = _drawn(fake, proxy)
    ui.inputVolumeSelector.setCurrentNode(proxy)
    ui.allTimePointsCheckBox.qobject.click()
    ui.outputSegmentationSelector.setCurrentNode(lesions)
    ui.segmentButton.click()
    job = widget._job
    if job is not None:  # before: the run went on and replaced the lesion at the end
        assert _until(app, lambda: job.finished)
    assert job is None and _idle_panel(widget), "the run started"
    assert len(fake.errors) == 1 and fake.errors[0].startswith("SDSeg could not start.") and "'lesion'" in fake.errors[0]
    assert list(lesions.masks) == ["Segment_1"] and browser.sequences == [volumes]
    np.testing.assert_array_equal(lesions.masks["Segment_1"], mask)
