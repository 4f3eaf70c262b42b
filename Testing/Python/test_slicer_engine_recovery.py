"""A local engine that stops answering mid-job, seen from the Slicer module's engine runner.

Real engine process and real tiny model (fixtures in slicer_logic_helpers.py); SIGSTOP stands in
for a stuck driver call, so this runs on POSIX only.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from slicer_logic_helpers import model_folder  # noqa: F401 - a pytest fixture; the import puts SDSegLib on sys.path
from test_slicer_logic import _run, _volume
from SDSegLib.engine_runner import EngineManager, SegmentationJob

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP is POSIX only")


def test_hung_engine_is_reported_stopped_and_replaced_on_next_job(model_folder):
    """The job reports engine_died, the runner stops the hung process, the next job gets a new one."""
    logs = []
    hung_manager = EngineManager(log=logs.append, extra_args=("--threads", "1"), heartbeat_s=0.5)
    try:
        array, geometry = _volume(k=300, j=32, i=32)
        job = SegmentationJob(hung_manager, array, geometry, str(model_folder), "cpu", batch_size=1).start()
        events, deadline = [], time.monotonic() + 60
        while not any(e.kind == "progress" for e in events) and time.monotonic() < deadline:
            events += job.poll()
            time.sleep(0.02)
        hung = hung_manager.process
        os.kill(hung.pid, signal.SIGSTOP)
        events += _run(job, 60)
        assert events[-1].kind == "error" and events[-1].data["code"] == "engine_died"
        assert "not answering" in events[-1].text
        assert hung_manager.process is None and hung.poll() is not None  # stopped, not reused
        assert any("running but not answering; stopping it" in line for line in logs)
        small, small_geometry = _volume(k=1)
        events = _run(SegmentationJob(hung_manager, small, small_geometry, str(model_folder), "cpu").start())
        assert events[-1].kind == "done", events[-1].text
        assert hung_manager.process.pid != hung.pid
    finally:
        hung_manager.stop()

