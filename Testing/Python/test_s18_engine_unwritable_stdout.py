"""An engine whose stdout cannot be written still serves, and says on stderr that its ready line was lost.

``python -m SDSegLogic.server`` prints one JSON ``ready`` line to stdout. Started with stdout
closed (``>&-``) or open read-only (``1</dev/null``), it used to die right after loading the model
with a traceback (``AttributeError`` / ``OSError: Bad file descriptor``, exit code 1), although a
user who chose ``--port`` (or reads the port from the log) can use it. A closed pipe (the parent
died) still stops it, as before. The engine is a real process serving the tiny model of
engine_fixtures.py; a real client runs a segment job on it and shuts it down.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine_fixtures import model_folder  # noqa: F401 - a pytest fixture (a tiny model folder)
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.skipif(sys.platform == "win32", reason="file descriptor redirections of a POSIX shell")]

REPO = Path(__file__).resolve().parents[2]


def _start(model_folder: Path, tmp_path: Path, redirect: str):
    """The engine as a child of ``sh`` with stdout redirected by ``redirect``; returns (process, log path, token path)."""
    log_path, token_path = tmp_path / "engine.log", tmp_path / "private" / "token"
    command = [sys.executable, "-m", "SDSegLogic.server", "--model", str(model_folder), "--device", "cpu", "--no-warmup",
               "--threads", "1", "--token-file", str(token_path)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    with open(log_path, "wb") as log_handle:
        process = subprocess.Popen(["sh", "-c", f'exec "$@" {redirect}', "sh", *command], stdin=subprocess.DEVNULL,
                                   stderr=log_handle, cwd=str(REPO), env=env)
    return process, log_path, token_path


def _serving_port(process: subprocess.Popen, log_path: Path) -> int:
    """The port the engine says it serves on (from its log), or a failure quoting the log if it exits first."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        text = log_path.read_text(encoding="utf-8", errors="replace")
        found = re.search(r"serving on 127\.0\.0\.1:(\d+) anyway", text)
        if found and "ready on" in text:
            return int(found.group(1))
        if process.poll() is not None:
            pytest.fail(f"the engine exited with code {process.returncode} instead of serving; its log:\n{text}")
        time.sleep(0.1)
    process.kill()
    pytest.fail("the engine did not become ready within 300 s")


@pytest.mark.parametrize("redirect", [">&-", "1</dev/null"], ids=["stdout-closed", "stdout-read-only"])
def test_an_engine_with_unwritable_stdout_serves_and_warns(model_folder, tmp_path, redirect):
    process, log_path, token_path = _start(model_folder, tmp_path, redirect)
    try:
        port = _serving_port(process, log_path)
        client = EngineClient("127.0.0.1", port, token_path.read_text(encoding="utf-8").strip(), timeout=60.0)
        geometry = ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (32, 32, 2))
        result = client.segment(np.zeros((2, 32, 32), np.int16), geometry)
        assert result.labels.shape == (2, 32, 32)
        client.shutdown()
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert "cannot write the ready line (JSON) to stdout" in log
    assert f'"port": {port}' in log  # the line itself, for whoever needs the port or the pid
    assert "Traceback" not in log
