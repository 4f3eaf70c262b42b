"""Cancel while a new engine starts: the device line no longer describes the engine that was stopped.

Choosing another model stops the warm engine and starts a new one on the next Segment. A Cancel
during that start ended the run as cancelled, with no engine running, yet the device line still
read "CPU: 1 threads, ... RAM free" of the stopped engine, and Copy diagnostics reported it. (An
engine that failed to start already replaced the line; a cancelled start did not.) Now the line
says that the start was cancelled and no engine answered.

SDSegWidget on the real .ui against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be
installed here), with the real engine process and a tiny random-weight model.
"""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("PySide6.QtWidgets")
from PySide6.QtGui import QGuiApplication  # noqa: E402
from slicer_test_helpers import (  # noqa: E402,F401 - app, engines, sdseg, tiny_model are pytest fixtures
    QtWidgets, _add_volume, _idle_panel, _segment, _until, app, engines, sdseg, tiny_model,
)


@pytest.fixture
def no_double_click_interval(app):
    """Segment then Cancel at once is two clicks, not a double-click (which the panel ignores)."""
    hints = QGuiApplication.styleHints()
    interval = hints.mouseDoubleClickInterval()
    hints.setMouseDoubleClickInterval(0)
    yield
    hints.setMouseDoubleClickInterval(interval)


def test_a_cancelled_engine_start_leaves_no_device_line_of_the_stopped_engine(app, sdseg, tiny_model, tmp_path,
                                                                             no_double_click_interval):
    fake, widget = sdseg
    ui = widget.ui
    volume = _add_volume(fake, "CT")
    job = _segment(widget, volume)
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and job.output is not None
    before = ui.deviceInfoLabel.text
    assert before.startswith("CPU: ")  # the warm engine that ran it
    other = shutil.copytree(tiny_model, tmp_path / "other-model")  # another model: the warm engine is stopped
    ui.modelComboBox.addItem("other", str(other))
    ui.modelComboBox.setCurrentIndex(ui.modelComboBox.count - 1)
    job = _segment(widget, volume)
    ui.segmentButton.click()  # Cancel, while the new engine starts (it imports torch: far longer than this)
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert not job.info, "the engine answered before the cancel; the start was not cancelled"
    assert widget.logic.engineManager.process is None  # no engine runs now: the old one was stopped
    assert ui.deviceInfoLabel.text != before, "the device line still describes the stopped engine"
    assert "cancelled" in ui.deviceInfoLabel.text, ui.deviceInfoLabel.text
    ui.copyDiagnosticsButton.click()
    device = [line for line in QtWidgets.QApplication.clipboard().text().splitlines() if line.startswith("Device: ")]
    assert device and "CPU: " not in device[0], device
