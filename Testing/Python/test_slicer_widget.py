"""SDSegWidget (SDSeg.py) at work, on the real .ui with the preview stand-ins of slicer_test_helpers.py.

SDSeg.py runs against Testing/Slicer/fake_slicer.py, because the MRML scene, PythonQt and
slicer.util cannot exist outside 3D Slicer (3D Slicer cannot be installed here). Everything else
is real: the .ui (PySide6, offscreen), Qt's timer and event loop, SDSegModuleLogic, and the engine
process with a tiny random-weight model, so a run goes through the same start/poll/write path as
in Slicer (about 1 s per run on a warm engine). Only failures while writing are injected, by
replacing logic.applyResult. Checks: a failure while writing the result, or closing the scene
during a run, leaves a usable panel; every run keeps its own node for the volume it started with;
the engine's warnings are shown and stored; the strict checkbox is kept in the parameter node and
a refusal it causes is shown as an error; ignored options are disabled; the slice axis is named
and the time estimated, again when the selected ROI is moved; a model missing on this computer
disables Segment; the model buttons import, use and open models; a dead engine's log is shown and
copied with the diagnostics; cleanup deletes the session's engine log; the input volume chosen as a map's
volume is refused before the run (it would be overwritten).
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.errors import SDSegError

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import (  # noqa: E402,F401 - app, engines, sdseg, tiny_model are pytest fixtures
    QtWidgets, _add_volume, _idle_panel, _segment, _segmentations, _until, app, engines, load_ui, sdseg, tiny_model,
)



def test_widget_failure_while_writing_resets_the_panel(app, sdseg):
    fake, widget = sdseg
    volume = _add_volume(fake, "CT")

    def fails(*args, **kwargs):
        raise OSError("disk full")

    real_apply, widget.logic.applyResult = widget.logic.applyResult, fails
    job = _segment(widget, volume)
    assert widget.ui.progressBar.maximum == 0  # busy (indeterminate) until the first progress event
    assert _until(app, lambda: job.finished)
    assert _idle_panel(widget), "the panel stayed locked after the failure"
    assert len(fake.errors) == 1 and "could not write the result" in fake.errors[0] and "disk full" in fake.errors[0]
    assert "disk full" in widget.ui.statusLog.toPlainText() and widget.ui.progressBar.maximum == 100
    assert widget.ui.progressBar.value == 0  # every slice was done, but nothing was written: not a full bar
    widget.logic.applyResult = real_apply  # the panel works again: the next run writes its result
    job = _segment(widget, volume)
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert [n.GetName() for n in _segmentations(fake)] == ["CT SDSeg"] and len(fake.errors) == 1


def test_widget_scene_close_during_a_run_cancels_it(app, sdseg):
    fake, widget = sdseg
    volume = _add_volume(fake, "CT", shape=(300, 32, 32))
    widget._parameterNode.batchSize = 1
    job = _segment(widget, volume)
    assert _until(app, lambda: widget.ui.progressBar.maximum == 100 and widget.ui.progressBar.value > 0)
    assert widget.ui.etaLabel.text.startswith("Slice ")
    fake.mrmlScene.Clear()
    assert widget._job is None and not widget._timer.isActive() and widget.ui.segmentButton.text == "Segment"
    assert [e.kind for e in job.wait(30)][-1] == "cancelled"  # the engine stopped; nothing to write
    assert not _segmentations(fake) and not fake.errors
    assert "scene is closing" in widget.ui.statusLog.toPlainText()


def test_widget_writes_the_run_s_volume_and_keeps_every_run(app, sdseg):
    fake, widget = sdseg
    first, second = _add_volume(fake, "A"), _add_volume(fake, "B", shape=(3, 10, 8))
    job = _segment(widget, first)
    widget.ui.inputVolumeSelector.setCurrentNode(second)  # changed during the run (e.g. from a script)
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    (node_a,) = _segmentations(fake)
    role = fake.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()
    assert node_a.GetName() == "A SDSeg" and node_a.GetNodeReference(role) is first
    assert widget.ui.outputSegmentationSelector.currentNode() is None and widget._parameterNode.outputSegmentation is None
    assert widget.ui.show3DButton.segmentationNode is node_a
    masks_a = {k: v.copy() for k, v in node_a.masks.items()}
    for volume in (second, first):
        job = _segment(widget, volume)
        assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert [n.GetName() for n in _segmentations(fake)] == ["A SDSeg", "B SDSeg", "A SDSeg_1"]
    assert all(np.array_equal(node_a.masks[k], v) for k, v in masks_a.items())  # the first result is untouched
    assert not fake.errors


def test_widget_shows_and_stores_the_engine_warnings(app, sdseg):
    fake, widget = sdseg
    job = _segment(widget, _add_volume(fake, "tilted", oblique=True))
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    label = widget.ui.warningLabel
    assert not label.qobject.isHidden() and "oblique" in label.text and "color:#c05a00" in label.text
    assert "Warning:" in widget.ui.statusLog.toPlainText() and "oblique" in widget.ui.statusLog.toPlainText()
    (node,) = _segmentations(fake)
    assert "oblique" in node.GetAttribute("SDSeg.Warnings")
    assert "oblique" in node.GetSegmentation().GetNthSegment(0).GetTag("SDSeg.Warnings")
    job = _segment(widget, _add_volume(fake, "straight"))
    assert label.qobject.isHidden()  # a new run clears the last run's warnings
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert "oblique" not in (_segmentations(fake)[1].GetAttribute("SDSeg.Warnings") or "")


def test_widget_strict_checkbox_is_saved_reaches_the_engine_and_a_refusal_is_shown(app, sdseg):
    fake, widget = sdseg
    ui, p = widget.ui, widget._parameterNode
    assert p.strict is False and not ui.strictCheckBox.checked and "colour/grey" in ui.strictCheckBox.toolTip
    ui.strictCheckBox.qobject.click()  # the user ticks it: saved in the parameter node (the scene)
    assert p.strict is True
    widget.exit()  # leave the module; a scene saved unticked, then loaded again, sets the node
    p.strict = False
    assert ui.strictCheckBox.checked  # not connected any more
    widget.enter()
    assert not ui.strictCheckBox.checked  # restored from the parameter node
    p.strict = True
    assert ui.strictCheckBox.checked
    rgb = np.random.default_rng(2).integers(0, 256, (1, 12, 16, 3)).astype(np.uint8)
    photo = fake.mrmlScene.AddNode(fake.vtkMRMLVectorVolumeNode("fundus", rgb))  # a colour photo for the CT model
    job = _segment(widget, photo)
    assert job.options["strict"] is True
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert job.error.code == "input_error" and not _segmentations(fake)  # refused by the engine: nothing written
    assert len(fake.errors) == 1 and fake.errors[0].startswith("Segmentation failed:\n") and fake.error_details == [""]
    for shown in (fake.errors[0], ui.etaLabel.text, ui.statusLog.toPlainText()):  # the modality first, then the channels
        assert "trained on CT images but the input is a 2-D picture (a colour photo, 3 channels), also a colour image " \
               "given to a 1-channel (grayscale) model; refused because strict" in shown, shown
    assert "Traceback" not in fake.errors[0]
    ui.strictCheckBox.qobject.click()  # unticked: the same photo is segmented, with a warning
    job = _segment(widget, photo)
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert [n.GetName() for n in _segmentations(fake)] == ["fundus SDSeg"] and len(fake.errors) == 1
    assert "colour image given to a 1-channel" in ui.warningLabel.text


def test_widget_nan_checkbox_is_saved_and_fills_what_is_refused_by_default(app, sdseg):
    fake, widget = sdseg
    import fake_slicer

    ui, p = widget.ui, widget._parameterNode
    assert p.fillNonFinite is False and not ui.fillNonFiniteCheckBox.checked
    array = np.random.default_rng(6).normal(40, 150, (2, 12, 16)).astype(np.float32)
    array[1, 3, 4] = np.nan
    ijk_to_ras = np.diag([-0.9, -0.9, 3.0, 1.0])
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("resampled", array, ijk_to_ras))
    job = _segment(widget, volume)  # unticked: refused, naming the count and the panel's switch
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert job.error.code == "input_error" and not _segmentations(fake)
    assert "1 voxel value(s) are NaN or infinite" in fake.errors[-1] and "'Fill NaN/infinite voxels'" in fake.errors[-1]
    ui.fillNonFiniteCheckBox.qobject.click()  # ticked: saved in the parameter node, sent, segmented with a warning
    assert p.fillNonFinite is True
    job = _segment(widget, volume)
    assert job.options["nan_policy"] == "fill"
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert [n.GetName() for n in _segmentations(fake)] == ["resampled SDSeg"]
    assert "replaced 1 NaN/infinite voxel value(s)" in ui.warningLabel.text
    from SDSegLib.volume_adapter import array_from_image_data

    kept = array_from_image_data(volume.GetImageData())  # the input volume is not modified
    assert np.isnan(kept[1, 3, 4]) and np.array_equal(np.nan_to_num(kept), np.nan_to_num(array))


def test_widget_disables_what_would_be_ignored(sdseg):
    fake, widget = sdseg
    import fake_slicer

    ui, p = widget.ui, widget._parameterNode
    widget.ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT"))
    assert p.samples == 1 and not ui.uncertaintyVolumeSelector.enabled
    assert "2 or more samples" in ui.uncertaintyVolumeSelector.toolTip
    ui.samplesSpinBox.qobject.setValue(3)
    assert p.samples == 3 and ui.uncertaintyVolumeSelector.enabled
    assert ui.firstSliceSpinBox.enabled and ui.lastSliceSpinBox.enabled
    roi = fake.mrmlScene.AddNode(fake_slicer.FakeROINode("R", (-100, 100, -100, 100, 0, 20)))
    ui.roiSelector.setCurrentNode(roi)
    assert p.roiNode is roi and not ui.firstSliceSpinBox.enabled and not ui.lastSliceSpinBox.enabled
    assert "region sets the slices" in ui.firstSliceSpinBox.toolTip
    ui.roiSelector.setCurrentNode(None)
    assert ui.firstSliceSpinBox.enabled


SAGITTAL_STORED = np.array([[0, 0, -1.0], [1, 0, 0], [0, -1.0, 0]])  # i -> A, j -> I, k -> L (RAS columns)


def test_widget_names_the_slice_axis_and_estimates_the_time(sdseg):
    fake, widget = sdseg
    ui = widget.ui
    ui.modelComboBox.setCurrentIndex(ui.modelComboBox.findData("sdseg-demo-ct-lite"))
    assert "DEMONSTRATION ONLY" in ui.modelCardLabel.text and "color:#b36b00" in ui.modelCardLabel.text
    assert "one patient" in ui.modelCardLabel.toolTip and "not a validated model" in ui.modelCardLabel.toolTip
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "sagittal", shape=(150, 60, 200), directions=SAGITTAL_STORED))
    assert ui.slicesLabel.text == "Slices (j):"  # an axial model cuts this volume across j, not k
    assert "j axis" in ui.firstSliceSpinBox.toolTip and "axial" in ui.firstSliceSpinBox.toolTip
    assert ui.estimateLabel.text == "Estimate: under 1 min for 60 slices on CPU."  # 0.6 s per slice, 60 axial slices
    widget._parameterNode.samples = 4
    assert ui.estimateLabel.text == "Estimate: about 3 min for 60 slices on CPU."
    widget._parameterNode.firstSlice, widget._parameterNode.lastSlice = 100, 140  # valid for K=150, not for J=60
    assert "j axis, which has 60 slices" in ui.estimateLabel.text
    ui.deviceComboBox.setCurrentIndex(ui.deviceComboBox.findData("cuda"))
    widget._parameterNode.firstSlice, widget._parameterNode.lastSlice = 10, 19
    assert ui.estimateLabel.text == "Fast on the GPU."


def test_widget_roi_on_a_sagittal_stored_volume_limits_the_axial_slices(app, sdseg):
    fake, widget = sdseg
    import fake_slicer

    volume = _add_volume(fake, "sagittal", shape=(8, 10, 6), directions=SAGITTAL_STORED)  # RAS z = 12 - 0.9 j
    roi = fake.mrmlScene.AddNode(fake_slicer.FakeROINode("R", (-100, 100, -100, 100, 7.4, 9.4)))  # z 7.4..9.4: j 3..5
    widget.ui.roiSelector.setCurrentNode(roi)
    job = _segment(widget, volume)
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and not fake.errors
    assert job.output.header["options"]["slices"] == [3, 6]  # the engine segmented axial slices j 3..5 only
    (node,) = _segmentations(fake)
    assert node.GetSegmentation().GetNthSegment(0).GetTag("SDSeg.Slices") == "j 3..5"


def test_widget_moving_the_roi_refreshes_the_slices_and_the_estimate(sdseg):
    fake, widget = sdseg
    import fake_slicer

    ui = widget.ui
    ui.modelComboBox.setCurrentIndex(ui.modelComboBox.findData("sdseg-demo-ct-lite"))  # a model with a CPU timing
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT", shape=(40, 12, 16)))  # RAS z = 12 + 3 k
    roi = fake.mrmlScene.AddNode(fake_slicer.FakeROINode("R", (-100, 100, -100, 100, 12, 21)))  # k 0..3
    ui.roiSelector.setCurrentNode(roi)
    assert ui.estimateLabel.text == "Estimate: under 1 min for 4 slices on CPU."
    roi.bounds[4:] = [12, 42]  # the user drags a handle: only the ROI node is modified
    roi.Modified()
    assert ui.estimateLabel.text == "Estimate: under 1 min for 11 slices on CPU."
    roi.bounds[4:] = [500, 600]  # dragged off the volume
    roi.Modified()
    assert "lies outside the volume" in ui.estimateLabel.text
    other = fake.mrmlScene.AddNode(fake_slicer.FakeROINode("R2", (-100, 100, -100, 100, 12, 15)))
    ui.roiSelector.setCurrentNode(other)  # the observer follows the selection
    assert ui.estimateLabel.text == "Estimate: under 1 min for 2 slices on CPU." and not roi._observers
    ui.roiSelector.setCurrentNode(None)
    assert not other._observers and ui.estimateLabel.text == "Estimate: under 1 min for 40 slices on CPU."
    ui.roiSelector.setCurrentNode(other)
    widget.exit()  # leaving the module (and cleanup) stops observing the ROI
    assert not other._observers


def test_widget_missing_model_disables_segment_and_says_how_to_fix_it(sdseg, tmp_path):
    fake, widget = sdseg
    ui, p = widget.ui, widget._parameterNode
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT"))
    assert ui.segmentButton.enabled
    p.modelId = str(tmp_path / "colleague" / "liver-model")  # saved in a scene made on another computer
    widget.setParameterNode(p)
    assert ui.modelComboBox.currentText == "liver-model (not found)"
    assert not ui.segmentButton.enabled
    tip = ui.segmentButton.toolTip
    assert "'liver-model' is missing" in tip and "no such model folder" in tip
    assert "Import model zip" in tip and "Use model folder" in tip
    ui.remoteUrlLineEdit.text = "sdseg://127.0.0.1:50123"  # a remote engine serves its own model
    assert ui.segmentButton.enabled and ui.segmentButton.toolTip == "Segment the input with the selected model"
    ui.remoteUrlLineEdit.text = ""
    assert not ui.segmentButton.enabled
    assert ui.modelComboBox.findData("sdseg-demo-ct-lite") >= 0
    ui.modelComboBox.setCurrentIndex(ui.modelComboBox.findData("sdseg-demo-ct-lite"))  # another model: usable again
    assert p.modelId == "sdseg-demo-ct-lite" and ui.segmentButton.enabled
    assert "missing" not in ui.segmentButton.toolTip and not fake.errors


# ---------------------------------------------------------------------- model management, engine log, diagnostics
def _zip_model(folder, archive):
    """A model zip as a user makes one: the model folder's files inside one top-level folder."""
    import zipfile

    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, f"{folder.name}/{path.name}")
    return archive


def _combo_items(combo):
    return [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count)]


def test_widget_model_buttons_import_use_and_open(app, sdseg, tiny_model, tmp_path, monkeypatch):
    import shutil

    fake, widget = sdseg
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "sdseg-home"))
    ui, p, combo = widget.ui, widget._parameterNode, widget.ui.modelComboBox
    home = tmp_path / "sdseg-home" / "models"
    ui.openModelsFolderButton.click()  # created if missing, then shown in the file browser
    assert home.is_dir() and fake.opened_urls == [str(home)]
    own = shutil.copytree(tiny_model, tmp_path / "my-trained-model").resolve()
    widget.useModelFolder(str(own))  # what "Use model folder..." does with the chosen folder
    assert combo.currentData == str(own) == p.modelId and combo.currentText == "my-trained-model (folder)"
    assert "installed (folder)" in ui.modelCardLabel.text and "test segmentation" in ui.modelCardLabel.text
    widget.useModelFolder(str(tmp_path))  # not a model: refused, the selection stays
    assert "not a usable SDSeg model" in fake.errors[-1] and p.modelId == str(own)
    widget.importModelZip(str(_zip_model(tiny_model, tmp_path / "tiny.zip")))
    assert (home / "tiny-widget" / "0.0.1" / "model_card.json").is_file()
    assert p.modelId == "tiny-widget" and combo.currentText == "tiny-widget (v0.0.1, imported)"
    assert "Imported tiny-widget 0.0.1" in ui.statusLog.toPlainText() and "installed (cache)" in ui.modelCardLabel.text
    widget.importModelZip(str(tmp_path / "typo.zip"))
    assert "not imported" in fake.errors[-1] and "no such file" in fake.errors[-1] and p.modelId == "tiny-widget"
    assert [spec for _, spec in _combo_items(combo)] == ["sdseg-demo-ct-lite", "tiny-widget", str(own)]
    job = _segment(widget, _add_volume(fake, "CT"))  # the engine takes the imported id
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and job.output is not None
    assert len(fake.errors) == 2
    import SDSeg

    later = SDSeg.SDSegWidget()  # the next Slicer session: the folder is offered again (application settings)
    later.setup()
    try:
        assert ("my-trained-model (folder)", str(own)) in _combo_items(later.ui.modelComboBox)
    finally:
        later.exit()
        later.removeObservers()


def test_widget_keeps_a_saved_model_that_is_not_in_the_list(sdseg, tiny_model, tmp_path):
    import shutil

    fake, widget = sdseg
    ui, p, combo = widget.ui, widget._parameterNode, widget.ui.modelComboBox
    gone = str(tmp_path / "colleague" / "liver-model")  # a folder saved in a scene made on another computer
    p.modelId, p.device = gone, "cpu"
    widget.setParameterNode(p)  # what entering the module does after the scene was loaded
    assert p.modelId == gone and combo.currentData == gone and combo.currentText == "liver-model (not found)"
    assert "not found" in ui.modelCardLabel.text and "no such model folder" in ui.modelCardLabel.text
    assert ui.deviceComboBox.currentData == "cpu"
    here = shutil.copytree(tiny_model, tmp_path / "shared-model")  # exists, never chosen on this computer
    p.modelId = str(here)
    widget.setParameterNode(p)
    assert p.modelId == str(here) and combo.currentText == "shared-model (folder)"
    assert ("liver-model (not found)", gone) not in _combo_items(combo) and not fake.errors


def test_widget_dead_engine_shows_its_log_and_copy_diagnostics(app, sdseg):
    fake, widget = sdseg
    widget._parameterNode.batchSize = 1
    job = _segment(widget, _add_volume(fake, "CT", shape=(300, 32, 32)))
    assert _until(app, lambda: widget.ui.progressBar.maximum == 100 and widget.ui.progressBar.value > 0)
    widget.logic.engineManager.process.popen.kill()  # the engine dies (e.g. killed for memory) during the run
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert len(fake.errors) == 1 and fake.errors[0].startswith("Segmentation failed:")
    details = fake.error_details[0]
    assert details.startswith("Engine log (last lines):") and "sdseg-engine INFO job" in details
    assert "sdseg-engine INFO" in widget.ui.statusLog.toPlainText()
    widget.ui.copyDiagnosticsButton.click()
    text = QtWidgets.QApplication.clipboard().text()
    for part in ("SDSeg diagnostics", widget.logic.versionsText(), "Device: CPU: ", "(tiny-widget v0.0.1)",
                 f"Engine log: {widget.logic.engineManager.log_path}", "sdseg-engine INFO job"):
        assert part in text, part
    assert "copied to the clipboard" in widget.ui.statusLog.toPlainText()


def test_widget_cleanup_deletes_the_session_engine_log(app, monkeypatch, tiny_model):
    import fake_slicer

    fake_slicer.install(monkeypatch, load_ui)
    import SDSeg
    from SDSegLib.engine_runner import EngineManager

    widget = SDSeg.SDSegWidget()
    widget.setup()
    widget.logic._manager = EngineManager(log=widget.logic._enqueue, extra_args=("--threads", "1"))
    widget.logic.engineManager.client(str(tiny_model), "cpu").close()
    log = widget.logic.engineManager.log_path
    widget.logic.stopEngine()  # a stopped (or restarted) engine keeps the session's log
    assert log.is_file() and "ready on" in widget.logic.engineLogTail()
    widget.cleanup()
    assert not log.parent.exists() and widget.logic.engineManager.process is None


def test_widget_refuses_the_input_as_a_map_volume_before_the_run(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    volume = _add_volume(fake, "CT")
    before = volume.GetImageData()
    ui.samplesSpinBox.qobject.setValue(2)
    ui.probabilityVolumeSelector.setCurrentNode(volume)  # the map selectors list every scalar volume, the input too
    ui.inputVolumeSelector.setCurrentNode(volume)
    ui.segmentButton.click()
    assert widget._job is None and ui.segmentButton.text == "Segment"  # refused before the engine works
    assert len(fake.errors) == 1 and "could not start" in fake.errors[0] and "would overwrite it" in fake.errors[0]
    other = fake.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "maps")
    ui.probabilityVolumeSelector.setCurrentNode(other)
    ui.uncertaintyVolumeSelector.setCurrentNode(other)
    ui.segmentButton.click()
    assert widget._job is None and "same volume" in fake.errors[-1]
    ui.uncertaintyVolumeSelector.setCurrentNode(None)
    job = _segment(widget, volume)
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and len(fake.errors) == 2
    assert volume.GetImageData() is before and other.GetImageData() is not None  # the input untouched, the map written
    with pytest.raises(SDSegError, match="would overwrite it"):  # the writer checks again (scripts call it directly)
        widget.logic.applyResult(job, volume, None, volume)
    assert volume.GetImageData() is before
