"""An engine stopped while its AOT build runs takes the build with it: no orphan compiling on for minutes.

``--compile aot`` builds missing packages in a child process (``python -m SDSegLogic.compiled``)
before the engine is ready. A start cancelled meanwhile (Slicer's Cancel, a ready timeout) stops
the engine, and the build child used to run on as an orphan for minutes (on a GPU: holding its
memory), then write packages nobody had asked for any more. A parent killed meanwhile (Slicer
crashing) left the engine itself building on, as it watched its stdin only once ready. A real engine process with the tiny
model of engine_fixtures.py, an empty ``SDSEG_HOME`` and an empty inductor cache (a cold build of
three networks, over a minute on this machine); the build is found in ``/proc``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine_fixtures import make_tiny_model, wait_until
from SDSegLogic.errors import CancelledError
from SDSegLogic.server.client import EngineProcess

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the build process in /proc")


def _children(pid: int) -> list:
    """Live (not zombie) processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError):
            continue
        if int(parent) == pid and state != "Z":
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def test_a_start_cancelled_during_the_build_stops_the_build(tmp_path):
    model = make_tiny_model(tmp_path / "models" / "tiny-compile-child")
    env = {"SDSEG_HOME": str(tmp_path / "home"), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    cancel, outcome = threading.Event(), {}

    def start():
        try:
            outcome["engine"] = EngineProcess.start(model, "cpu", extra_args=["--threads", "1", "--compile", "aot"], env=env,
                                                    ready_timeout=600, should_cancel=cancel.is_set)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcome["error"] = exc

    before = set(_children(os.getpid()))
    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    try:
        wait_until(lambda: set(_children(os.getpid())) - before or not starter.is_alive(), 120, "the engine process starts")
        engine = (set(_children(os.getpid())) - before).pop()
        wait_until(lambda: _children(engine) or not starter.is_alive(), 300, "the engine starts its build child")
        builds = _children(engine)
        assert builds and starter.is_alive(), f"the engine became ready or failed before its build: {outcome}"
    finally:
        cancel.set()
        starter.join(60)
    assert isinstance(outcome.get("error"), CancelledError), outcome
    try:
        wait_until(lambda: not any(_alive(pid) for pid in builds), 30, "the build ends with its engine")
    finally:  # an orphan left by a failure must not compile on for minutes after the test
        for pid in builds:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


PARENT = """
import json, sys
from SDSegLogic.server.client import EngineProcess
EngineProcess.start(sys.argv[1], "cpu", extra_args=["--threads", "1", "--compile", "aot"], env=json.loads(sys.argv[2]),
                    ready_timeout=600)
"""


def test_a_parent_killed_during_the_build_ends_the_engine_and_the_build(tmp_path):
    """Slicer killed while its engine builds kernels: the engine watched its stdin only once ready, so it (and the
    build) ran on for minutes, holding the CPU or GPU, before it found nobody to tell its port to."""
    model = make_tiny_model(tmp_path / "models" / "tiny-parent-build")
    env = {"SDSEG_HOME": str(tmp_path / "home"), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    temp = tmp_path / "tmp"
    temp.mkdir()
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(model), json.dumps(env)],
                              env={**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(temp)}, stdout=subprocess.DEVNULL)
    builds, engines = [], []
    try:
        wait_until(lambda: _children(parent.pid) or parent.poll() is not None, 120, "the parent starts the engine")
        engines = _children(parent.pid)
        wait_until(lambda: _children(engines[0]) or not _alive(engines[0]), 300, "the engine starts its build child")
        builds = _children(engines[0])
        assert builds, "the engine ended before it started its build"
        assert list(temp.glob("sdseg-engine-*")), "no private directory was made"
    finally:
        parent.kill()
        parent.wait(30)
    try:
        wait_until(lambda: not any(_alive(pid) for pid in engines + builds), 30, "the engine and its build end with the parent")
    finally:  # what a failure left running must not compile on for minutes after the test
        for pid in engines + builds:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not list(temp.glob("sdseg-engine-*")), 30, "the engine removes its private directory")
