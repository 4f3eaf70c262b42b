"""The engine runner's restart line when the exited engine left no log to quote.

Real engine process and real tiny model (fixtures in slicer_logic_helpers.py). The session log is
removed after the engine is killed, as a temp-folder cleaner would do.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from slicer_logic_helpers import model_folder  # noqa: F401 - a pytest fixture; the import puts SDSegLib on sys.path
from SDSegLib.engine_runner import EngineManager

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX only")


def test_a_restart_after_an_engine_with_no_log_says_so_instead_of_a_dangling_introduction(model_folder):
    logs = []
    manager = EngineManager(log=logs.append, extra_args=("--threads", "1"))
    try:
        manager.client(str(model_folder), "cpu").close()
        dead = manager.process
        os.kill(dead.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while dead.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.remove(manager.log_path)
        manager.client(str(model_folder), "cpu").close()
        restart = [line for line in logs if "The engine process exited" in line]
        assert len(restart) == 1
        assert not restart[0].rstrip().endswith(":"), restart[0]
        assert "Its log is empty." in restart[0]
        assert manager.process.pid != dead.pid
    finally:
        manager.stop()
