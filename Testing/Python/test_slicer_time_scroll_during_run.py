"""Scrolling time during a single-time-point run: the result goes to the time point that was segmented.

Segment on the volume of a 4D series segments the time point shown when it is clicked; Slicer
stays usable, and scrolling time copies another time point into the same volume node. The result
was then written over the time point shown at the end: into an all-time-points segmentation
(browsed with "save changes", as SDSeg adds it), Slicer's browser saved it into *that* time
point's item, replacing what was there with a segmentation of another time point, while the
segmented time point kept its old result; with a playing browser the write was not saved at all.
A time point of another grid cancelled the run. Now the run remembers its time point, and before
writing shows it again (playback stopped), with a log line saying so.

Against ``Testing/Slicer/fake_slicer.py``, whose browser saves a modified proxy into the selected
item as Slicer's Sequences logic does (``fake_slicer_sequences.py``), with the real engine, the
tiny random-weight model and the real .ui (PySide6, offscreen).
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import _idle_panel, _until, app, engines, sdseg, tiny_model  # noqa: E402,F401 - fixtures
from test_slicer_sequence import _logic, _sequence  # noqa: E402


def _series(fake, origins=((5.0, -7.0, 12.0),) * 3, name="CT 4D"):
    """A proxy volume browsing 3 time points (0, 0.5, 1 s) of (2, 32, 32) voxels, each with other voxels."""
    return _sequence(fake, shapes=((2, 32, 32),) * len(origins), name=name, origins=origins)


def _items(sequence):
    """Per time point: {segment id: (SDSeg.Seed tag, mask copy)}."""
    return [{sid: (seg.GetTag("SDSeg.Seed"), item.masks[sid].copy()) for sid, seg in item.GetSegmentation().segments.items()}
            for item in (sequence.GetNthDataNode(n) for n in range(sequence.GetNumberOfDataNodes()))]


def test_widget_writes_into_the_segmented_time_point_of_an_all_time_points_segmentation(app, sdseg, tiny_model):
    fake, widget = sdseg
    ui, p = widget.ui, widget._parameterNode
    proxy, browser, volumes = _series(fake)
    segmentation = widget.logic.process(proxy, model=str(tiny_model), device="cpu", allTimePoints=True, seed=0)
    sequence = browser.GetSequenceNode(segmentation)
    assert browser.GetSaveChanges(sequence)  # corrections in the browsed segmentation are saved per time point
    before = _items(sequence)
    p.seed = 5
    ui.inputVolumeSelector.setCurrentNode(proxy)
    ui.outputSegmentationSelector.setCurrentNode(segmentation)
    assert not p.allTimePoints and browser.GetSelectedItemNumber() == 0
    ui.segmentButton.click()  # time point 1/3
    job = widget._job
    assert job is not None
    browser.SetSelectedItemNumber(2)  # the user scrolls to the last time point while it runs
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and not fake.errors, fake.errors
    after = _items(sequence)
    assert {tag for tag, _mask in after[0].values()} == {"5"}, "the segmented time point did not get the result"
    for number in (1, 2):  # the others keep the all-time-points result
        assert after[number].keys() == before[number].keys()
        for sid, (tag, mask) in after[number].items():
            assert tag == before[number][sid][0] == "0", f"time point {number + 1} was overwritten"
            np.testing.assert_array_equal(mask, before[number][sid][1])
    assert browser.GetSelectedItemNumber() == 0  # shown again: the result lies over the image it was made from
    log = ui.statusLog.toPlainText()
    assert "set back from time point 3/3 (time = 1.0 s) to time point 1/3 (time = 0.0 s)" in log, log
    assert log.index("set back from") < log.index("Result written to"), log  # said before, as it was done before
    assert "was modified while it was being segmented" not in log  # the volume shows the segmented voxels again


def test_widget_a_scroll_to_a_time_point_of_another_grid_does_not_lose_the_run(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    proxy, browser, volumes = _series(fake, origins=((5.0, -7.0, 12.0), (5.0, -7.0, 12.0), (40.0, 25.0, -30.0)))
    ui.inputVolumeSelector.setCurrentNode(proxy)
    ui.segmentButton.click()
    job = widget._job
    browser.SetSelectedItemNumber(2)  # another origin: the volume's grid follows the time point
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and not fake.errors, fake.errors
    (segmentation,) = fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")
    assert browser.GetSelectedItemNumber() == 0 and ui.progressBar.value == 100
    geometry = segmentation.GetSegmentation().GetConversionParameter("Reference image geometry")
    assert geometry.split(";")[3] == "5.0" and geometry.split(";")[7] == "-7.0"  # the first time point's grid


def test_result_of_a_playing_browser_is_saved_into_the_segmented_time_point(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    proxy, browser, volumes = _series(fake)
    segmentation = logic.process(proxy, model=str(model_folder), device="cpu", allTimePoints=True, seed=0)
    sequence = browser.GetSequenceNode(segmentation)
    browser.SetSelectedItemNumber(1)
    job = logic.startJob(proxy, model=str(model_folder), device="cpu", seed=9)  # time point 2/3
    browser.SetPlaybackActive(True)  # played while it runs, stopped on time point 3/3
    browser.SetSelectedItemNumber(2)
    assert job.wait(120)[-1].kind == "done"
    assert logic.applyResult(job, proxy, segmentation) is segmentation
    tags = [{tag for tag, _mask in item.values()} for item in _items(sequence)]
    assert tags == [{"0"}, {"9"}, {"0"}], tags
    assert not browser.GetPlaybackActive() and browser.GetSelectedItemNumber() == 1
    assert any("playback of 'CT 4D browser' was stopped" in line for line in logic.drainLog())
