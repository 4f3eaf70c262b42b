"""The status line under the progress bar does not end with the engine's error code.

A run the engine refuses (here: a colour photo for a CT model with "Refuse mismatched inputs
(strict)" ticked) ends with an ``error`` event whose text ends with the protocol's error code,
``[engine error: input_error]``. The status line already left that code out when it showed the
last engine log line of a dead engine, but showed it for a one-line refusal: the line a clinician
reads ended with script jargon. The error dialog and the status log keep the code (a bug report
needs it). SDSeg.py on the real .ui against ``Testing/Slicer/fake_slicer.py`` with the real engine
and a tiny random-weight CT model; Qt is the real PySide6 (offscreen).
"""

from __future__ import annotations

import numpy as np

from slicer_test_helpers import (  # noqa: F401 - app, engines, sdseg, tiny_model are pytest fixtures
    _idle_panel, _until, app, engines, sdseg, tiny_model,
)


def test_s20e2_refused_run_status_line_has_no_error_code(app, sdseg):
    import fake_slicer

    fake, widget = sdseg
    ui = widget.ui
    photo = fake.mrmlScene.AddNode(fake_slicer.FakeVectorVolumeNode(
        "fundus", np.random.default_rng(1).integers(0, 255, (1, 32, 32, 3)).astype(np.uint8)))
    widget._parameterNode.strict = True
    ui.inputVolumeSelector.setCurrentNode(photo)
    ui.segmentButton.click()
    job = widget._job
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert job.error is not None and "refused because strict" in ui.etaLabel.text
    assert "[engine error" not in ui.etaLabel.text, ui.etaLabel.text  # before: "... [engine error: input_error]"
    assert ui.etaLabel.text.endswith(".")
    assert "[engine error: input_error]" in fake.errors[-1]  # the dialog keeps the code for a bug report
