"""SIGTERM while the engine loads its model ends it like Ctrl-C there: one line and exit code 0.

``python -m SDSegLogic.server`` installs its SIGTERM handler once the model is loaded. SIGTERM
during the load (minutes when kernels are built) took the signal's default action: the engine
vanished with exit code 143 (-15 as Popen reports it) and no message, where the module and
PROTOCOL.md promise that SIGTERM shuts it down like a ``shutdown`` request (exit code 0). The load
is held deterministically as in test_s18_engine_interrupted_load.py: the model folder's
``config.json`` is a named pipe that this test opens for writing but never writes.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine_fixtures import model_folder  # noqa: F401 - a pytest fixture (a tiny model folder)

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(signal, "SIGTERM"), reason="named pipes, SIGTERM (POSIX)")

REPO = Path(__file__).resolve().parents[2]


def _open_writer_when_read(fifo: Path, process: subprocess.Popen, deadline_s: float = 300.0) -> int:
    """Open ``fifo`` for writing once the engine has it open for reading; fails if the engine exits first."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: nobody reads it yet
                raise
        if process.poll() is not None:
            pytest.fail(f"the engine exited with code {process.returncode} before it read its model")
        time.sleep(0.05)
    pytest.fail("the engine never opened its model's config.json")


def test_sigterm_while_the_model_loads_is_one_line_and_exit_code_0(model_folder, tmp_path):
    held = tmp_path / "held-model"
    shutil.copytree(model_folder, held)
    (held / "config.json").unlink()
    os.mkfifo(held / "config.json")
    log_path = tmp_path / "engine.log"
    command = [sys.executable, "-m", "SDSegLogic.server", "--model", str(held), "--device", "cpu", "--no-warmup",
               "--threads", "1", "--token-file", str(tmp_path / "token")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    with open(log_path, "wb") as log_handle:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_handle, cwd=str(REPO),
                                   env=env)
    writer = None
    try:
        writer = _open_writer_when_read(held / "config.json", process)
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        stdout = process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        if writer is not None:
            os.close(writer)
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert code == 0, f"exit code {code}; log:\n{log}"
    assert "Traceback" not in log, log
    lines = [line for line in log.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and "SIGTERM" in lines[0] and "while loading model" in lines[0], log
    assert b'"ready"' not in stdout  # it never served
