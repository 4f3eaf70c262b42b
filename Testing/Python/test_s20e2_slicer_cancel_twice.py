"""Pressing Cancel twice (or double-clicking it) says "Cancelling ..." once.

The engine confirms a cancel between batches of slices, so the button reads Cancel for a moment
after the first press; a second press (impatience, or the two clicks Qt makes of a double-click)
logged the same line again, as if a second cancel had been started. Now the status log says it
once per run, and the next run's Cancel says it again. SDSeg.py against
``Testing/Slicer/fake_slicer.py`` with the real engine and a tiny random-weight model; Qt is the
real PySide6 (offscreen).
"""

from __future__ import annotations

import time

from slicer_test_helpers import (  # noqa: F401 - app, engines, sdseg, tiny_model are pytest fixtures
    _add_volume, _idle_panel, _segmentations, _until, app, engines, sdseg, tiny_model,
)

CANCELLING = "Cancelling (the engine stops after the current batch of slices) ..."


def _start_long_run(app, fake, widget):
    time.sleep(app.doubleClickInterval() / 1000.0 + 0.05)  # not the second click of a double-click on Cancel
    widget._parameterNode.batchSize = 1
    widget.ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT", shape=(300, 32, 32)))
    widget.ui.segmentButton.click()
    job = widget._job
    assert job is not None
    assert _until(app, lambda: widget.ui.progressBar.maximum == 100 and widget.ui.progressBar.value > 0)
    return job


def test_s20e2_cancel_pressed_twice_is_logged_once(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    for run in (1, 2):  # the second run's Cancel is said again
        job = _start_long_run(app, fake, widget)
        ui.segmentButton.click()  # Cancel
        ui.segmentButton.click()  # Cancel again, before the engine confirmed (or a double-click)
        assert _until(app, lambda: job.finished) and _idle_panel(widget)
        assert job.output is None and not _segmentations(fake)
        assert ui.statusLog.toPlainText().count(CANCELLING) == run, ui.statusLog.toPlainText()  # before: twice a run
