"""Ctrl-C while the engine loads its model ends it with one clear line and exit code 0, not a traceback.

``python -m SDSegLogic.server`` installs its SIGINT/SIGTERM handlers once the model is loaded; a
Ctrl-C during the load (minutes when kernels are built) raised ``KeyboardInterrupt`` out of
``main``: a Python traceback and exit code 130, where the module promises one line per failure and
PROTOCOL.md exit code 0 after Ctrl-C. The load is held deterministically: the model folder's
``config.json`` is a named pipe, so reading it blocks until this test writes to it, which it never
does; once the engine has the pipe open (this side's non-blocking open for writing succeeds), the
test sends SIGINT.
"""

from __future__ import annotations

import os
import signal
import sys

import pytest

from engine_fixtures import model_folder  # noqa: F401 - a pytest fixture (a tiny model folder)
from engine_load_helpers import signal_engine_while_loading

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes (POSIX)")

# SIGINT back to its default in the engine, even when this test runs where it is ignored (a background job)
LAUNCH = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.executable, sys.argv[1:])"


def test_ctrl_c_while_the_model_loads_is_one_line_and_exit_code_0(model_folder, tmp_path):
    code, log, stdout = signal_engine_while_loading(model_folder, tmp_path, signal.SIGINT,
                                                    launcher=[sys.executable, "-c", LAUNCH])
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log
    assert "interrupted (Ctrl-C) while loading model" in log
    assert code == 0, f"exit code {code}; log:\n{log}"
    assert b'"ready"' not in stdout  # it never served
