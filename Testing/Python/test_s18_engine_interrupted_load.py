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

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes (POSIX)")

REPO = Path(__file__).resolve().parents[2]
# SIGINT back to its default in the engine, even when this test runs where it is ignored (a background job)
LAUNCH = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.executable, sys.argv[1:])"


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


def test_ctrl_c_while_the_model_loads_is_one_line_and_exit_code_0(model_folder, tmp_path):
    held = tmp_path / "held-model"
    shutil.copytree(model_folder, held)
    (held / "config.json").unlink()
    os.mkfifo(held / "config.json")
    log_path = tmp_path / "engine.log"
    command = [sys.executable, "-c", LAUNCH, sys.executable, "-m", "SDSegLogic.server", "--model", str(held), "--device", "cpu",
               "--no-warmup", "--threads", "1", "--token-file", str(tmp_path / "token")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    with open(log_path, "wb") as log_handle:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_handle, cwd=str(REPO),
                                   env=env)
    writer = None
    try:
        writer = _open_writer_when_read(held / "config.json", process)
        process.send_signal(signal.SIGINT)
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
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log
    assert "interrupted (Ctrl-C) while loading model" in log
    assert code == 0, f"exit code {code}; log:\n{log}"
    assert b'"ready"' not in stdout  # it never served
