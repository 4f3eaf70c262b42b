"""The panel during a run (SDSeg.py), on the real .ui with the preview stand-ins of slicer_test_helpers.py.

SDSeg.py runs against Testing/Slicer/fake_slicer.py (3D Slicer cannot be installed here), with the
real engine process and a tiny random-weight model, as in test_slicer_widget.py. Checks:

* while a run is going on every control of the .ui that changes what a run does (input, model,
  model import buttons, device, options, outputs, every Advanced editor) is disabled; only Cancel
  and what changes nothing (section headers, Show 3D, Open models folder, Copy diagnostics) stay
  enabled; the controls are found by type in the loaded .ui, so one added later is checked too;
* the panel is exactly as before the run once it ends, whichever way: done, refused by the
  engine, cancelled, the scene closed; the disabled-because-ignored states (the slice numbers
  under an ROI, the variance map with 1 sample) come back as they were;
* leaving and entering the module during a run keeps the lock until the run ends;
* removing the input volume during a run cancels it at once (nothing could be written);
* output nodes removed during a run: the result goes to a new segmentation and the log says so.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import (  # noqa: E402,F401 - app, engines, sdseg, tiny_model are pytest fixtures
    QtWidgets, _add_volume, _idle_panel, _segment, _segmentations, _until, app, engines, sdseg, tiny_model,
)

LONG = (300, 32, 32)  # with batch size 1: a run that lasts long enough to act on it
STAY_ENABLED = {  # change nothing about a run: Cancel, the section headers and pure view/report buttons
    "segmentButton", "show3DButton", "openModelsFolderButton", "copyDiagnosticsButton",
    "inputsCollapsibleButton", "optionsCollapsibleButton", "outputsCollapsibleButton", "advancedCollapsibleButton",
}
_INTERACTIVE = (QtWidgets.QAbstractButton, QtWidgets.QAbstractSpinBox, QtWidgets.QComboBox, QtWidgets.QLineEdit,
                QtWidgets.QAbstractSlider, QtWidgets.QPlainTextEdit, QtWidgets.QTextEdit)


def _controls(widget) -> dict:
    """{name: enabled} of every widget of the loaded .ui a user can act on (read-only text views excluded).

    Slicer's ctkCollapsibleButton is a QAbstractButton; its preview stand-in is a plain QWidget.
    """
    states = {}
    for name, proxy in vars(widget.ui).items():
        w = proxy.qobject
        if isinstance(w, (QtWidgets.QPlainTextEdit, QtWidgets.QTextEdit)) and w.isReadOnly():
            continue
        if isinstance(w, _INTERACTIVE) or name.endswith("CollapsibleButton"):
            states[name] = w.isEnabled()
    return states


def _assert_locked(widget) -> None:
    states = _controls(widget)
    assert {"gpuKernelsComboBox", "strictCheckBox", "batchSizeSpinBox", "remoteUrlLineEdit"} <= set(states)
    assert sorted(n for n, on in states.items() if on and n not in STAY_ENABLED) == [], "editable during the run"
    assert sorted(n for n in STAY_ENABLED if not states[n]) == [], "locked although it changes nothing"
    assert widget.ui.segmentButton.text == "Cancel"


def _photo(fake):
    rgb = np.random.default_rng(2).integers(0, 256, (1, 12, 16, 3)).astype(np.uint8)
    return fake.mrmlScene.AddNode(fake.vtkMRMLVectorVolumeNode("fundus", rgb))


@pytest.mark.parametrize("ending", ["done", "refused", "cancelled", "scene closed"])
def test_run_locks_every_run_control_and_the_end_restores_the_panel(app, sdseg, ending):
    fake, widget = sdseg
    ui, p = widget.ui, widget._parameterNode
    if ending == "refused":
        p.strict = True  # the engine refuses a colour photo for the CT model: an error event
        volume = _photo(fake)
    else:
        volume = _add_volume(fake, "CT", shape=LONG if ending in ("cancelled", "scene closed") else (4, 12, 16))
    p.batchSize = 1
    ui.inputVolumeSelector.setCurrentNode(volume)
    before = _controls(widget)
    assert not before["uncertaintyVolumeSelector"] and before["firstSliceSpinBox"] and before["gpuKernelsComboBox"]
    job = _segment(widget, volume)
    _assert_locked(widget)
    if ending in ("cancelled", "scene closed"):
        assert _until(app, lambda: ui.progressBar.maximum == 100 and ui.progressBar.value > 0)
        _assert_locked(widget)  # still locked while progress events arrive
        if ending == "cancelled":
            ui.segmentButton.click()
        else:
            fake.mrmlScene.Clear()
    if ending == "scene closed":  # the panel stops reading the job's events at once
        assert _idle_panel(widget) and [e.kind for e in job.wait(30)][-1] == "cancelled"
        before["segmentButton"] = False  # the new scene has no input volume
    else:
        assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert _controls(widget) == before, "the panel is not as before the run"
    assert ui.progressBar.maximum == 100 and ui.progressBar.value == (100 if ending == "done" else 0)  # no stale bar
    assert (job.output is not None) == (ending == "done") and (job.error is not None) == (ending == "refused")
    assert len(fake.errors) == (ending == "refused")


def test_leaving_and_entering_the_module_during_a_run_keeps_the_lock(app, sdseg):
    fake, widget = sdseg
    import fake_slicer

    ui, p = widget.ui, widget._parameterNode
    volume = _add_volume(fake, "CT")
    ui.inputVolumeSelector.setCurrentNode(volume)
    ui.roiSelector.setCurrentNode(fake.mrmlScene.AddNode(fake_slicer.FakeROINode("R", (-1e3, 1e3, -1e3, 1e3, -1e3, 1e3))))
    before = _controls(widget)
    assert not before["firstSliceSpinBox"] and not before["uncertaintyVolumeSelector"]  # ignored: ROI, 1 sample
    job = _segment(widget, volume)
    widget.exit()  # the user switches to another module: the run goes on
    widget.enter()  # and comes back before it ends
    _assert_locked(widget)
    assert widget._parameterNode.inputVolume is volume and widget._parameterNode.parameterNode is p.parameterNode
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert _controls(widget) == before  # the ROI still disables the slice numbers
    assert [n.GetName() for n in _segmentations(fake)] == ["CT SDSeg"] and not fake.errors


def test_removing_the_input_volume_during_a_run_cancels_it_at_once(app, sdseg):
    fake, widget = sdseg
    widget._parameterNode.batchSize = 1
    volume = _add_volume(fake, "CT", shape=LONG)
    before = (widget.ui.inputVolumeSelector.setCurrentNode(volume), _controls(widget))[1]
    job = _segment(widget, volume)
    assert _until(app, lambda: widget.ui.progressBar.maximum == 100 and widget.ui.progressBar.value > 0)
    fake.mrmlScene.RemoveNode(volume)  # the user deletes the input (Data module) while it is segmented
    assert _until(app, lambda: widget._job is None, timeout=5), "the run went on although nothing can be written"
    assert [e.kind for e in job.wait(30)][-1] == "cancelled" and _idle_panel(widget)
    assert not _segmentations(fake) and not fake.errors  # said in the panel, not in an error dialog
    assert "input volume was removed" in widget.ui.etaLabel.text
    assert "input volume was removed" in widget.ui.statusLog.toPlainText()
    assert _controls(widget) == before


def test_output_nodes_removed_during_a_run_are_named_in_the_log(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    volume = _add_volume(fake, "CT")
    chosen = fake.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "liver seg")
    probability = fake.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "liver prob")
    ui.outputSegmentationSelector.setCurrentNode(chosen)
    ui.probabilityVolumeSelector.setCurrentNode(probability)
    job = _segment(widget, volume)
    fake.mrmlScene.RemoveNode(chosen)  # deleted while the engine works
    fake.mrmlScene.RemoveNode(probability)
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and not fake.errors
    assert [n.GetName() for n in _segmentations(fake)] == ["CT SDSeg"]  # a new node instead of the removed one
    log = ui.statusLog.toPlainText()
    assert "'liver seg' was removed during the run" in log and "'CT SDSeg'" in log
    assert "'liver prob' was removed during the run" in log and "not written" in log
