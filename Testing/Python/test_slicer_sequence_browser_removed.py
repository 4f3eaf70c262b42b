"""An all-time-points run whose sequence browser or volume sequence is removed stops at once and says why.

"All time points" segments one time point after the other and adds the segmentation sequence to
the input's browser only at the end. A browser deleted (Data module) during the run was noticed
only then: every remaining time point was still segmented, minutes of work for a result that
could not be added, and the run ended with an error dialog. Now the run checks its browser and
volume sequence while it runs and ends ``cancelled`` at the next poll, naming what was removed;
nothing is added and nothing is left behind.

Against ``Testing/Slicer/fake_slicer.py`` (its Sequences module is ``fake_slicer_sequences.py``),
with the real engine, the tiny random-weight model and the real .ui (PySide6, offscreen).
"""

from __future__ import annotations

import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import _idle_panel, _until, app, engines, sdseg, tiny_model  # noqa: E402,F401 - fixtures
from test_slicer_sequence import _logic, _sequence  # noqa: E402

SHAPES = ((2, 32, 32), (2, 32, 32), (2, 32, 32))


def _nothing_left(fake, volumes):
    """No segmentation and no sequence but the volumes' (the hidden incomplete one removed)."""
    scene = fake.mrmlScene
    assert [n for n in scene.GetNodesByClass("vtkMRMLSequenceNode") if n is not volumes] == []
    assert not scene.GetNodesByClass("vtkMRMLSegmentationNode")
    assert not any(n.hide_from_editors for n in scene.nodes.values())


def test_widget_stops_at_once_when_the_browser_is_removed(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    proxy, browser, volumes = _sequence(fake, shapes=SHAPES)
    ui.inputVolumeSelector.setCurrentNode(proxy)
    ui.allTimePointsCheckBox.qobject.click()
    ui.segmentButton.click()
    job = widget._job
    assert job is not None
    fake.mrmlScene.RemoveNode(browser)  # deleted in the Data module while the first time point is segmented
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    log = ui.statusLog.toPlainText()
    assert "Segmented time point" not in log, "time points were still segmented after the browser was removed"
    assert ui.etaLabel.text.startswith("Cancelled at time point 1/3"), ui.etaLabel.text
    assert f"the sequence browser '{browser.GetName()}' was removed from the scene" in ui.etaLabel.text
    assert "nothing was added" in ui.etaLabel.text and not fake.errors and ui.progressBar.value == 0
    _nothing_left(fake, volumes)


@pytest.mark.parametrize("removed", ["volume sequence", "input volume"])
def test_a_removed_sequence_or_input_cancels_the_run_before_its_next_time_point(monkeypatch, manager, model_folder, removed):
    fake, logic = _logic(monkeypatch, manager)
    proxy, browser, volumes = _sequence(fake, shapes=SHAPES)
    run = logic.startSequenceJob(proxy, model=str(model_folder), device="cpu")  # a script polling the run
    node = volumes if removed == "volume sequence" else proxy
    fake.mrmlScene.RemoveNode(node)
    events = run.wait(300)
    assert run.finished and events[-1].kind == "cancelled", [e.text for e in events]
    assert f"the {removed} '{node.GetName()}' was removed from the scene" in events[-1].text
    assert not any("Segmented time point" in line for line in logic.drainLog())
    assert run.output is None and run.error is None
    _nothing_left(fake, volumes)
