"""The status line after a run whose engine exited says why, not "... Engine log:" with nothing after it.

The panel's status line shows the first line of the run's last event. For an engine that exited
while loading its model (here: a model folder whose weights were corrupted after it was chosen,
exit code 3), that line read "the SDSeg engine (pid N) exited with code 3. Engine log:": the
reason, which the engine had written as its last log line, was only in the error dialog. An
engine killed during a run ("... exited with code -9. Last engine log lines:") had the same
dangling line. Now the first line carries the engine's last log line, and a first line that only
introduces the lines after it is completed by the last meaningful one.

SDSegWidget on the real .ui against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be
installed here), with the real engine process and a tiny random-weight model; the engine start is
also checked on its own (``EngineProcess.start``), as scripts and the command line see it.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import (  # noqa: E402,F401 - app, engines, sdseg, tiny_model are pytest fixtures
    _broken_copy, _kill_engine_during_a_run, _segment_with_a_broken_model, app, engines, sdseg, tiny_model,
)


def test_an_engine_that_exits_while_loading_names_its_reason_in_the_status_line(app, sdseg, tiny_model, tmp_path):
    fake, widget = sdseg
    _segment_with_a_broken_model(app, fake, widget, tiny_model, tmp_path)
    status = widget.ui.etaLabel.text
    assert "exited with code 3" in status, status
    assert not status.rstrip().endswith(":"), f"the status line ends with a dangling introduction: {status!r}"
    assert "does not match the model card" in status, status  # the engine's own reason, from its log
    assert "does not match the model card" in fake.error_details[-1]  # the dialog still shows the whole log


def test_the_engine_start_error_s_first_line_stands_alone(tmp_path, tiny_model):
    from SDSegLogic.server.client_types import EngineDiedError
    from SDSegLogic.server.process import EngineProcess

    with pytest.raises(EngineDiedError) as caught:
        EngineProcess.start(_broken_copy(tiny_model, tmp_path), "cpu", extra_args=("--threads", "1"))
    first, *rest = str(caught.value).splitlines()
    assert "exited with code 3" in first and "does not match the model card" in first, first
    assert not first.endswith(":") and any("sdseg-engine" in line for line in rest)  # the log follows, as before


def test_an_engine_killed_during_a_run_leaves_a_complete_status_line(app, sdseg):
    fake, widget = sdseg
    _kill_engine_during_a_run(app, fake, widget)
    status = widget.ui.etaLabel.text
    assert "exited with code -9" in status and fake.errors[-1].startswith("Segmentation failed:"), status
    assert not status.rstrip().endswith(":"), f"the status line ends with a dangling introduction: {status!r}"
    last_logged = widget.logic.engineLogTail().strip().splitlines()[-1].strip()
    assert "Last engine log line: " in status and last_logged in status, (status, last_logged)
