"""What the panel shows after a Segment that did not start: nothing left over from the run before.

* A start refused before any engine work (here: the input volume chosen as the probability map's
  volume) left the progress bar full from the previous run, next to "SDSeg could not start.";
  now the bar is empty, as after any failure.
* An engine that failed to start (here: a model folder whose weights were corrupted after it was
  listed) ended the job with an error, and the bar and buttons were reset, but the device line
  still described the previous engine ("CPU: 1 threads, ... RAM free"), which had been stopped to
  start the new one; "Copy diagnostics" then reported that engine's device for the failed run. Now
  the line says that the engine did not start.

SDSegWidget on the real .ui against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be
installed here), with the real engine process and a tiny random-weight model.
"""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import (  # noqa: E402,F401 - app, engines, sdseg, tiny_model are pytest fixtures
    QtWidgets, _add_volume, _idle_panel, _segment, _until, app, engines, sdseg, tiny_model,
)


def _run_once(app, widget, volume):
    job = _segment(widget, volume)
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and job.output is not None
    assert widget.ui.progressBar.value == 100  # written: a full bar
    return job


def test_a_refused_start_does_not_leave_the_last_run_s_full_bar(app, sdseg):
    fake, widget = sdseg
    ui = widget.ui
    volume = _add_volume(fake, "CT")
    _run_once(app, widget, volume)
    ui.probabilityVolumeSelector.setCurrentNode(volume)  # refused: it would overwrite the input
    ui.segmentButton.click()
    assert widget._job is None and "could not start" in fake.errors[-1]
    assert ui.etaLabel.text == "SDSeg could not start." and _idle_panel(widget)
    assert ui.progressBar.maximum == 100 and ui.progressBar.value == 0, "the bar still shows the previous run as done"


def test_an_engine_that_did_not_start_leaves_no_device_line_of_the_engine_before(app, sdseg, tiny_model, tmp_path):
    fake, widget = sdseg
    ui = widget.ui
    volume = _add_volume(fake, "CT")
    _run_once(app, widget, volume)
    before = ui.deviceInfoLabel.text
    assert before.startswith("CPU: ")  # the engine that ran it
    broken = shutil.copytree(tiny_model, tmp_path / "broken-model")
    weights = next(broken.glob("unet*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"corrupt!")  # corrupted after the folder was chosen
    ui.modelComboBox.addItem("broken", str(broken))
    ui.modelComboBox.setCurrentIndex(ui.modelComboBox.count - 1)
    job = _segment(widget, volume)
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert job.error is not None and fake.errors[-1].startswith("Segmentation failed:")
    assert ui.progressBar.maximum == 100 and ui.progressBar.value == 0
    assert ui.deviceInfoLabel.text != before and "did not start" in ui.deviceInfoLabel.text, ui.deviceInfoLabel.text
    ui.copyDiagnosticsButton.click()
    device = [line for line in QtWidgets.QApplication.clipboard().text().splitlines() if line.startswith("Device: ")]
    assert device and "CPU: " not in device[0] and "did not start" in device[0], device
