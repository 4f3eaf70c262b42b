"""The message of an engine that died during a run: its state, the remedy, then the engine's log, last and whole.

A real engine process serves the tiny random-weight model of engine_fixtures.py and is killed
(SIGKILL, as the out-of-memory killer does) from inside the first progress callback. The client's
remedy ("Stop the engine and start it again ...") used to be glued to the end of the quoted log,
so the engine's last log line read as if the engine had said it; with an empty log the message
quoted a placeholder under "Last engine log lines:".
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from engine_fixtures import model_folder  # noqa: F401 - a pytest fixture (a tiny model folder)
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineDiedError, EngineProcess

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kills the engine with SIGKILL")]
REMEDY = "Stop the engine and start it again (Segment restarts an engine that exited)."


def _killed_during_a_run(model_folder, *extra_args) -> tuple:
    """(the client's EngineDiedError, the engine's log text) for an engine killed mid-run."""
    process = EngineProcess.start(model_folder, "cpu", extra_args=["--threads", "1", *extra_args])
    try:
        client = process.client()
        geometry = ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (32, 32, 60))
        with pytest.raises(EngineDiedError) as caught:
            client.segment(np.zeros((60, 32, 32), np.int16), geometry, batch_size=1, num_inference_steps=4,
                           on_progress=lambda event: os.kill(process.pid, signal.SIGKILL))
        return caught.value, process.log_path.read_text()
    finally:
        process.stop()


def test_the_engine_s_last_log_line_ends_the_message_as_it_wrote_it(model_folder):
    error, log = _killed_during_a_run(model_folder)
    lines = error.message.splitlines()
    assert "exited with code -9" in lines[0] and REMEDY in lines[0], lines[0]
    assert lines[0].endswith("Last engine log lines:"), lines[0]  # a heading: the Slicer status line completes it
    assert lines[-1] == log.strip().splitlines()[-1], (lines[-1], log[-500:])


def test_an_empty_log_is_said_in_words_not_quoted(model_folder):
    error, log = _killed_during_a_run(model_folder, "--log-level", "CRITICAL")
    assert log.strip() == ""
    assert "exited with code -9" in error.message and REMEDY in error.message
    assert error.message.endswith("Its log is empty."), error.message
    assert "Last engine log lines" not in error.message and "(engine log is empty)" not in error.message
