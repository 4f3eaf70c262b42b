"""All time points of a sequence (4D CT, cine) from the Slicer module: the scripting call and the panel.

3D Slicer (its MRML scene, the Sequences module, PythonQt) cannot exist here, so the module runs
against Testing/Slicer/fake_slicer.py, whose sequence and sequence-browser nodes and Sequences
logic (fake_slicer_sequences.py) stand in for Slicer's with the same method names and behaviour.
The engine process, the tiny random-weight model, SDSegModuleLogic, the .ui (PySide6, offscreen)
and the Qt event loop are real. The input is a 3-time-point sequence of 32x32 volumes with
different voxels per time point, the third with another origin (each time point has its own grid).

Checks: the blocking ``process(..., allTimePoints=True)`` and the panel's "All time points (N)"
checkbox give a segmentation sequence synchronized with the input's browser, one item per time
point at the same index values, each equal (segments, masks, terminology, tags, reference
geometry) to what the module's single-volume path gives for that time point; scrolling time shows
each time point's segmentation; progress reports the time point; the checkbox is hidden for a plain
volume; a cancel or a failure mid-sequence adds nothing (no partial sequence) and says so.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path
from SDSegLogic.errors import InputError, SDSegError

QtWidgets = pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import (  # noqa: E402,F401 - app, engines, sdseg, tiny_model are pytest fixtures
    _add_volume, _idle_panel, _segmentations, _until, app, engines, sdseg, tiny_model,
)

SHAPES = ((3, 32, 32), (3, 32, 32), (2, 32, 32))
ORIGINS = ((5.0, -7.0, 12.0), (5.0, -7.0, 12.0), (40.0, 25.0, -30.0))  # the third time point lies elsewhere


def _sequence(fake, shapes=SHAPES, name="CT 4D", nan_at=None, origins=ORIGINS):
    """A proxy volume browsing a volume sequence (index values 0, 0.5, 1 s) in a sequence browser."""
    import fake_slicer

    scene, rng = fake.mrmlScene, np.random.default_rng(11)
    volumes = scene.AddNewNodeByClass("vtkMRMLSequenceNode", f"{name} sequence")
    for number, shape in enumerate(shapes):
        ijk_to_ras = np.diag([-0.9, -0.9, 3.0, 1.0])
        ijk_to_ras[:3, 3] = origins[number % len(origins)]
        array = rng.normal(40 * number, 120, shape).astype(np.float32)
        if number == nan_at:
            array[0, 0, 0] = np.nan  # the engine refuses NaN voxels by default
        volumes.SetDataNodeAtValue(fake_slicer.FakeVolumeNode(f"{name} {number}", array, ijk_to_ras), str(number * 0.5))
    proxy = scene.AddNode(fake_slicer.FakeVolumeNode(name))
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", f"{name} browser")
    browser.SetAndObserveMasterSequenceNodeID(volumes.GetID())
    browser.AddProxyNode(proxy, volumes, False)
    browser.SetSelectedItemNumber(0)
    return proxy, browser, volumes


def _single_runs(fake, logic, volumes, model):
    """What the module's single-volume path writes for each time point (a plain volume with its voxels and grid)."""
    import fake_slicer
    from SDSegLib.volume_adapter import array_from_image_data

    results = []
    for number in range(volumes.GetNumberOfDataNodes()):
        item = volumes.GetNthDataNode(number)
        plain = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode(f"t{number}", array_from_image_data(item.GetImageData()),
                                                                  item.ijk_to_ras))
        results.append(logic.process(plain, model=model, device="cpu"))
    return results


def _assert_same_segmentation(item, reference):
    """Same segments (ids, names, colours, tags with terminology), same masks, same reference geometry."""
    ours, theirs = item.GetSegmentation(), reference.GetSegmentation()
    assert list(ours.segments) == list(theirs.segments) and ours.GetNumberOfSegments() >= 1
    for segment_id, segment in ours.segments.items():
        other = theirs.segments[segment_id]
        assert (segment.name, segment.color, segment.tags) == (other.name, other.color, other.tags)
        assert segment.GetTag("TerminologyEntry")
        np.testing.assert_array_equal(item.masks[segment_id], reference.masks[segment_id])  # voxel for voxel
    assert ours.parameters == theirs.parameters  # reference image geometry of that time point's volume


def _no_leftovers(fake, volumes, browser):
    """Nothing added: the volume sequence is the only sequence, no segmentation, no hidden temporary node."""
    scene = fake.mrmlScene
    assert scene.GetNodesByClass("vtkMRMLSequenceNode") == [volumes]
    assert not scene.GetNodesByClass("vtkMRMLSegmentationNode")
    assert browser.sequences == [volumes] and not any(n.hide_from_editors for n in scene.nodes.values())


def _logic(monkeypatch, manager):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    return fake, SDSegModuleLogic(engineManager=manager)


# ---------------------------------------------------------------------- the scripting call (Python console)
def test_process_all_time_points_gives_a_synchronized_segmentation_sequence(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    proxy, browser, volumes = _sequence(fake)
    browser.SetSelectedItemNumber(1)
    segmentation = logic.process(proxy, model=str(model_folder), device="cpu", allTimePoints=True)
    sequence = browser.GetSequenceNode(segmentation)
    assert sequence is not None and browser.IsSynchronizedSequenceNode(sequence) and sequence is not volumes
    values = [volumes.GetNthIndexValue(n) for n in range(3)]
    assert values == ["0.0", "0.5", "1.0"] and [sequence.GetNthIndexValue(n) for n in range(3)] == values
    assert browser.GetSaveChanges(sequence) and segmentation.GetAttribute("SDSeg.TimePoints") == "3"
    role = fake.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()
    assert segmentation.GetNodeReference(role) is proxy and segmentation.GetName() == "CT 4D SDSeg"
    assert not any(n.hide_from_editors for n in fake.mrmlScene.nodes.values())  # no temporary node left behind
    references = _single_runs(fake, logic, volumes, str(model_folder))
    for number, reference in enumerate(references):
        _assert_same_segmentation(sequence.GetNthDataNode(number), reference)
    geometries = [sequence.GetNthDataNode(n).GetSegmentation().parameters for n in range(3)]
    assert geometries[0] == geometries[1] != geometries[2]  # each time point's own grid
    _assert_same_segmentation(segmentation, references[1])  # the browsed segmentation shows the selected time point
    browser.SetSelectedItemNumber(2)  # scrolling time
    _assert_same_segmentation(segmentation, references[2])
    again = logic.process(proxy, segmentation, model=str(model_folder), device="cpu", allTimePoints=True, seed=3)
    assert again is segmentation and browser.GetSequenceNode(again) is sequence  # a rerun replaces the time points
    assert sequence.GetNumberOfDataNodes() == 3 and sequence.GetNthDataNode(0).GetSegmentation().GetNthSegment(0).GetTag(
        "SDSeg.Seed") == "3"
    assert len(fake.mrmlScene.GetNodesByClass("vtkMRMLSequenceNode")) == 2


def test_start_sequence_job_reports_the_time_point_and_adds_the_result_when_applied(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    proxy, browser, volumes = _sequence(fake)
    run = logic.startSequenceJob(proxy, model=str(model_folder), device="cpu", batchSize=1)
    events = run.wait(300)
    progress = [e for e in events if e.kind == "progress"]
    assert [e.data["time_point"] for e in progress] == sorted(e.data["time_point"] for e in progress)
    assert {e.data["time_point"] for e in progress} == {1, 2, 3} and {e.data["time_points"] for e in progress} == {3}
    assert progress[-1].text == "Time point 3/3, slice 2/2" and all(e.data["eta_s"] >= 0 for e in progress)
    assert events[-1].kind == "done" and events[-1].text.startswith("Segmented all 3 time points")
    assert browser.sequences == [volumes] and not _segmentations(fake)  # nothing visible before it is applied
    log = "\n".join(logic.drainLog())
    assert "Segmented time point 1/3 (time = 0.0 s)" in log and "time point 3/3 (time = 1.0 s)" in log
    segmentation = logic.applyResult(run, proxy)
    assert browser.GetSequenceNode(segmentation).GetNumberOfDataNodes() == 3 and _segmentations(fake) == [segmentation]


def test_all_time_points_refuses_a_plain_volume_maps_and_another_browser_s_output(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    plain = _add_volume(fake, "plain")
    with pytest.raises(InputError, match="'plain' is not a time point of a sequence"):
        logic.process(plain, model=str(model_folder), device="cpu", allTimePoints=True)
    proxy, browser, volumes = _sequence(fake)
    maps = _add_volume(fake, "probabilities")
    with pytest.raises(InputError, match="maps are not written when all time points"):
        logic.process(proxy, model=str(model_folder), device="cpu", allTimePoints=True, probabilityVolume=maps)
    other_proxy, other_browser, _ = _sequence(fake, name="cine")
    taken = logic.process(other_proxy, model=str(model_folder), device="cpu", allTimePoints=True)
    with pytest.raises(InputError, match="already shows the time points of another sequence"):
        logic.process(proxy, taken, model=str(model_folder), device="cpu", allTimePoints=True)
    assert browser.sequences == [volumes]


def test_a_failure_mid_sequence_adds_nothing(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    proxy, browser, volumes = _sequence(fake, nan_at=1)
    with pytest.raises(SDSegError, match=r"Failed at time point 2/3 \(time = 0.5 s\); nothing was added: the 1 time "
                                         r"point\(s\) already segmented were discarded") as failure:
        logic.process(proxy, model=str(model_folder), device="cpu", allTimePoints=True)
    assert "NaN" in str(failure.value) and failure.value.code == "input_error"
    _no_leftovers(fake, volumes, browser)


# ---------------------------------------------------------------------- the panel
def test_widget_checkbox_only_for_a_sequence_and_it_segments_every_time_point(app, sdseg, monkeypatch, tiny_model):
    fake, widget = sdseg
    import SDSeg

    shown = []
    real_show = SDSeg.show_job_event
    monkeypatch.setattr(SDSeg, "show_job_event", lambda ui, event: (real_show(ui, event), shown.append(ui.etaLabel.text))[0])
    ui, p = widget.ui, widget._parameterNode
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "plain"))
    assert ui.allTimePointsCheckBox.qobject.isHidden()
    proxy, browser, volumes = _sequence(fake)
    ui.inputVolumeSelector.setCurrentNode(proxy)
    assert not ui.allTimePointsCheckBox.qobject.isHidden() and ui.allTimePointsCheckBox.text == "All time points (3)"
    assert ui.probabilityVolumeSelector.enabled and not ui.allTimePointsCheckBox.checked
    ui.allTimePointsCheckBox.qobject.click()
    assert p.allTimePoints is True and not ui.probabilityVolumeSelector.enabled  # maps are not written for sequences
    ui.segmentButton.click()
    job = widget._job
    assert job is not None and not ui.allTimePointsCheckBox.enabled  # locked during the run
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and not fake.errors
    assert any(text.startswith("Time point 1/3, slice ") for text in shown)
    assert any(text.startswith("Time point 3/3, slice ") for text in shown)
    (segmentation,) = _segmentations(fake)
    sequence = browser.GetSequenceNode(segmentation)
    assert ui.show3DButton.segmentationNode is segmentation and ui.progressBar.value == 100
    assert "Segmented all 3 time points" in ui.statusLog.toPlainText()
    references = _single_runs(fake, widget.logic, volumes, str(tiny_model))
    for number, reference in enumerate(references):
        _assert_same_segmentation(sequence.GetNthDataNode(number), reference)
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "another plain"))
    assert ui.allTimePointsCheckBox.qobject.isHidden() and ui.probabilityVolumeSelector.enabled


def test_widget_cancel_mid_sequence_adds_nothing_and_says_so(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    proxy, browser, volumes = _sequence(fake, shapes=((2, 32, 32), (300, 32, 32), (2, 32, 32)))
    widget._parameterNode.batchSize = 1
    ui.inputVolumeSelector.setCurrentNode(proxy)
    ui.allTimePointsCheckBox.qobject.click()
    ui.segmentButton.click()
    job = widget._job
    assert _until(app, lambda: ui.etaLabel.text.startswith("Time point 2/3, slice ") and ui.progressBar.value > 33)
    ui.segmentButton.click()  # Cancel
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    _no_leftovers(fake, volumes, browser)
    assert ui.etaLabel.text.startswith("Cancelled at time point 2/3") and ui.progressBar.value == 0 and not fake.errors
    assert "nothing was added: the 1 time point(s) already segmented were discarded" in ui.statusLog.toPlainText()
