"""The status log tells a run's end in the order it happened.

The logic queues its log lines (engine start, each time point written) and the panel moves them
into the status log when it polls, but it wrote the run's last event and the result's lines
before the lines the same poll had queued: after "All time points" the log read "Segmented all 3
time points", "Result written to ...", the warnings, and only then "Segmented time point 3/3".
Now the queued lines come first.

SDSegWidget on the real .ui against ``Testing/Slicer/fake_slicer.py`` (its Sequences module is
``fake_slicer_sequences.py``), with the real engine process and a tiny random-weight model.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import _idle_panel, _until, app, engines, sdseg, tiny_model  # noqa: E402,F401 - fixtures
from test_slicer_sequence import _sequence  # noqa: E402


def test_the_last_time_point_is_logged_before_the_run_s_end_and_its_result(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    proxy, browser, volumes = _sequence(fake, shapes=((2, 32, 32),) * 3)
    ui.inputVolumeSelector.setCurrentNode(proxy)
    ui.allTimePointsCheckBox.qobject.click()
    ui.segmentButton.click()
    job = widget._job
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and not fake.errors
    lines = ui.statusLog.toPlainText().splitlines()
    order = [next(n for n, line in enumerate(lines) if line.startswith(start)) for start in (
        "Segmented time point 1/3", "Segmented time point 2/3", "Segmented time point 3/3", "Segmented all 3 time points",
        "Result written to")]
    assert order == sorted(order), lines
