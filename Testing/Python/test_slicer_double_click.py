"""A double-click on Segment starts one run and does not cancel it.

Qt turns a double-click on a push button into two clicks. The first click turns Segment into
Cancel, so before, the second click cancelled the run the user had just started ("Cancelled;
nothing was written"). Now a click within Qt's double-click interval of Segment, before the run
has shown any progress, is taken as the second click of a double-click; a later click cancels as
before. SDSeg.py against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be installed here)
with the real engine and a tiny random-weight model; Qt is the real PySide6 (offscreen).
"""

from __future__ import annotations

import time

from slicer_test_helpers import (  # noqa: F401 - app, engines, sdseg, tiny_model are pytest fixtures
    _add_volume, _idle_panel, _segmentations, _until, app, engines, sdseg, tiny_model,
)


def test_a_double_click_on_segment_starts_one_run_and_does_not_cancel_it(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT"))
    ui.segmentButton.click()
    job = widget._job
    ui.segmentButton.click()  # the second click of the double-click, at once
    assert widget._job is job and ui.segmentButton.text == "Cancel"
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert job.output is not None and len(_segmentations(fake)) == 1 and not fake.errors  # before: cancelled, nothing written
    log = ui.statusLog.toPlainText()
    assert "Segment was double-clicked: the run goes on. Click Cancel to stop it." in log and "Cancelling" not in log


def test_a_click_after_the_double_click_interval_still_cancels(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    widget._parameterNode.batchSize = 1
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT", shape=(300, 32, 32)))
    ui.segmentButton.click()
    job = widget._job
    time.sleep(app.doubleClickInterval() / 1000.0 + 0.05)  # no event processed: the bar may still be busy
    ui.segmentButton.click()  # Cancel
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert job.output is None and not _segmentations(fake) and ui.etaLabel.text.startswith("Cancelled")


def test_a_double_click_on_cancel_does_not_start_a_new_run(app, sdseg, monkeypatch):
    """The engine confirmed the cancel between the two clicks: the second click found Segment and started a run."""
    import qt  # the fake's PythonQt module: PySide6's QApplication

    fake, widget = sdseg
    ui = widget.ui
    monkeypatch.setattr(qt.QApplication, "doubleClickInterval", staticmethod(lambda: 60_000))  # a slow double-click
    widget._parameterNode.batchSize = 1
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT", shape=(300, 32, 32)))
    ui.segmentButton.click()
    job = widget._job
    assert _until(app, lambda: ui.progressBar.maximum == 100 and ui.progressBar.value > 0)  # running, progress shown
    ui.segmentButton.click()  # Cancel: the first click
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and ui.segmentButton.text == "Segment"
    ui.segmentButton.click()  # the second click of the double-click on Cancel
    assert widget._job is None and not _segmentations(fake)  # before: a new run started
    assert "Cancel was double-clicked: no new run was started. Click Segment to start one." in ui.statusLog.toPlainText()
