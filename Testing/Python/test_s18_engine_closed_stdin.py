"""An engine started with stdin closed (``<&-``): a clear token-source error, and ``--watch-stdin`` seeing no parent.

With stdin closed, Python's ``sys.stdin`` is None. ``--token-stdin`` then died with a traceback
(``AttributeError``, exit code 1) instead of the documented exit code 2 for a bad token source, and
``--watch-stdin``'s watcher thread died with a traceback while the engine went on serving with
nobody watching its parent. A closed stdin is at its end: the engine now stops as when its parent
is gone. Real engine processes (the tiny model of engine_fixtures.py) under ``sh``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine_fixtures import model_folder  # noqa: F401 - a pytest fixture (a tiny model folder)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="file descriptor redirections of a POSIX shell")

REPO = Path(__file__).resolve().parents[2]


def _engine_without_stdin(model_folder: Path, log_path: Path, *options: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "SDSegLogic.server", "--model", str(model_folder), "--device", "cpu", "--no-warmup",
               "--threads", "1", *options]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    with open(log_path, "wb") as log_handle:
        return subprocess.Popen(["sh", "-c", 'exec "$@" <&-', "sh", *command], stdout=subprocess.DEVNULL, stderr=log_handle,
                                cwd=str(REPO), env=env)


def test_token_stdin_with_stdin_closed_is_a_bad_token_source(model_folder, tmp_path):
    log_path = tmp_path / "engine.log"
    process = _engine_without_stdin(model_folder, log_path, "--token-stdin")
    code = process.wait(120)
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert code == 2, f"exit code {code}; log:\n{log}"
    assert "--token-stdin" in log and "no stdin" in log
    assert "Traceback" not in log


def test_watch_stdin_with_stdin_closed_stops_the_engine_as_a_gone_parent(model_folder, tmp_path):
    log_path = tmp_path / "engine.log"
    process = _engine_without_stdin(model_folder, log_path, "--token-file", str(tmp_path / "token"), "--watch-stdin")
    deadline = time.monotonic() + 300
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if "Traceback" in log_path.read_text(encoding="utf-8", errors="replace"):
                break
            time.sleep(0.1)
    finally:
        running = process.poll() is None
        if running:
            process.kill()
        process.wait()
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, f"the stdin watcher failed:\n{log}"
    assert not running, f"the engine kept running with nobody watching its parent; log:\n{log}"
    assert process.returncode == 0
    assert "stdin closed" in log
