"""Signal an engine process while it loads its model, the load held deterministically by a named pipe.

The model folder's ``config.json`` is replaced by a named pipe: the engine blocks reading it until someone
writes, which these helpers never do. Once the engine has the pipe open (this side's non-blocking open for
writing succeeds), the signal is sent.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]


def open_writer_when_read(fifo: Path, process: subprocess.Popen, deadline_s: float = 300.0) -> int:
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


def signal_and_wait(process: subprocess.Popen, signum: int, timeout_s: float = 60.0) -> Tuple[int, bytes]:
    """Send ``signum`` to ``process`` and wait for its exit; returns (exit code, all it wrote to its stdout pipe)."""
    process.send_signal(signum)
    code = process.wait(timeout_s)
    return code, process.stdout.read()


def reap(process: subprocess.Popen) -> None:
    """Kill ``process`` if it still runs (a failed test), wait for it, close its stdout pipe (and stdin if a pipe)."""
    if process.poll() is None:
        process.kill()
        process.wait()
    if process.stdin is not None:
        process.stdin.close()
    process.stdout.close()


def signal_engine_while_loading(model_folder: Path, tmp_path: Path, signum: int,
                                launcher: Sequence[str] = ()) -> Tuple[int, str, bytes]:
    """Start ``python -m SDSegLogic.server`` on a copy of ``model_folder`` held in its load, send it ``signum``.

    Args:
        model_folder: a tiny model folder (the ``model_folder`` fixture); copied, not changed.
        tmp_path: a scratch folder for the held copy, the token file and the engine's log.
        signum: the signal to send once the engine reads its ``config.json``.
        launcher: arguments put before ``python -m SDSegLogic.server`` (e.g. a wrapper that resets a signal).

    Returns:
        (exit code, the engine's stderr log as text, its stdout bytes).
    """
    held = tmp_path / "held-model"
    shutil.copytree(model_folder, held)
    (held / "config.json").unlink()
    os.mkfifo(held / "config.json")
    log_path = tmp_path / "engine.log"
    command = [*launcher, sys.executable, "-m", "SDSegLogic.server", "--model", str(held), "--device", "cpu",
               "--no-warmup", "--threads", "1", "--token-file", str(tmp_path / "token")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    with open(log_path, "wb") as log_handle:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_handle, cwd=str(REPO),
                                   env=env)
    writer = None
    try:
        writer = open_writer_when_read(held / "config.json", process)
        code, stdout = signal_and_wait(process, signum)
    finally:
        reap(process)
        if writer is not None:
            os.close(writer)
    return code, log_path.read_text(encoding="utf-8", errors="replace"), stdout
