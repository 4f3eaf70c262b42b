"""SIGTERM while the engine loads its model ends it like Ctrl-C there: one line and exit code 0.

``python -m SDSegLogic.server`` installs its SIGTERM handler once the model is loaded. SIGTERM
during the load (minutes when kernels are built) took the signal's default action: the engine
vanished with exit code 143 (-15 as Popen reports it) and no message, where the module and
PROTOCOL.md promise that SIGTERM shuts it down like a ``shutdown`` request (exit code 0). The load
is held deterministically as in test_s18_engine_interrupted_load.py: the model folder's
``config.json`` is a named pipe that this test opens for writing but never writes.
"""

from __future__ import annotations

import os
import signal

import pytest

from engine_fixtures import model_folder  # noqa: F401 - a pytest fixture (a tiny model folder)
from engine_load_helpers import signal_engine_while_loading

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(signal, "SIGTERM"), reason="named pipes, SIGTERM (POSIX)")


def test_sigterm_while_the_model_loads_is_one_line_and_exit_code_0(model_folder, tmp_path):
    code, log, stdout = signal_engine_while_loading(model_folder, tmp_path, signal.SIGTERM)
    assert code == 0, f"exit code {code}; log:\n{log}"
    assert "Traceback" not in log, log
    lines = [line for line in log.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and "SIGTERM" in lines[0] and "while loading model" in lines[0], log
    assert b'"ready"' not in stdout  # it never served
