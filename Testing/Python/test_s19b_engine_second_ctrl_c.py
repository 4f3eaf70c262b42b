"""A second Ctrl-C while the engine shuts down ends it with one line, not a ``KeyboardInterrupt`` traceback.

The first Ctrl-C shuts the engine down as a ``shutdown`` request does: the running job is stopped
and the shutdown waits for its batch to end so that its client hears ``engine_shutdown``
(PROTOCOL.md, "Shutdown during a job"). A second Ctrl-C means "stop waiting": it raised
``KeyboardInterrupt`` in that wait, which escaped ``main`` as a traceback (and exit status -2),
and the job's client found a lost connection. Now the engine says so in one line, still tells the
job's client ``engine_shutdown``, closes its connections and exits with code 0 (PROTOCOL.md,
"Startup contract": 0 after Ctrl-C).

A real engine process serves the tiny random-weight model of engine_fixtures.py. Its volume pipeline
(the ``segment_array`` the engine calls; swapped in before ``main`` starts) reports one progress
event, waits for the job's stop, marks in a file that the stop came (the shutdown is then waiting for
the batch), and then never ends its batch; the shutdown's wait for a batch is raised to 10 minutes so
that only the second Ctrl-C can end it. Every wait of the test is on observable state with a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from engine_fixtures import make_tiny_model, wait_until
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient

REPO = Path(__file__).resolve().parents[2]
TOKEN = "s19b-second-ctrl-c-" + "i" * 32
ENGINE = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when the tests run in the background
import SDSegLogic.segment
import SDSegLogic.server.engine
SDSegLogic.server.engine.SHUTDOWN_JOIN_S = 600.0  # the shutdown waits for the batch below until a second Ctrl-C

def batch_that_never_ends(image, geometry, predictor, *, progress, should_cancel, **options):
    progress(0, int(image.shape[0]))
    while not should_cancel():
        time.sleep(0.01)
    open(os.environ["S19B_STOP_SEEN"], "w").close()
    time.sleep(3600)

SDSegLogic.segment.segment_array = batch_that_never_ends
from SDSegLogic.server.__main__ import main
sys.exit(main(sys.argv[1:]))
"""
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to another process is POSIX only")


def test_a_second_ctrl_c_during_the_shutdown_is_one_line_and_the_client_hears_engine_shutdown(tmp_path):
    model = make_tiny_model(tmp_path / "tiny-ctrl-c")
    stop_seen = tmp_path / "stop-seen"
    env = {**os.environ, "S19B_TOKEN": TOKEN, "S19B_STOP_SEEN": str(stop_seen),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    engine = subprocess.Popen([sys.executable, "-c", ENGINE, "--model", str(model), "--device", "cpu", "--token-env", "S19B_TOKEN",
                               "--threads", "1", "--no-warmup", "--compile", "off"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(tmp_path))
    try:
        ready = engine.stdout.readline()
        assert '"ready"' in ready, f"the engine did not start: {ready!r} {engine.stderr.read() if engine.poll() is not None else ''}"
        port = int(ready.split('"port": ')[1].split(",")[0])
        client, progressed, outcome = EngineClient("127.0.0.1", port, TOKEN, timeout=30.0), threading.Event(), {}

        def run_job() -> None:
            volume = np.zeros((2, 32, 32), np.int16)
            try:
                client.segment(volume, ImageGeometry((1.0,) * 3, (0.0,) * 3, np.eye(3), (32, 32, 2)),
                               on_progress=lambda event: progressed.set())
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                outcome["error"] = exc
            progressed.set()

        worker = threading.Thread(target=run_job, daemon=True)
        worker.start()
        assert progressed.wait(60) and "error" not in outcome, outcome
        engine.send_signal(signal.SIGINT)
        wait_until(stop_seen.exists, timeout=60.0, what="the job seeing the first Ctrl-C's shutdown")
        engine.send_signal(signal.SIGINT)  # the shutdown now waits for a batch that never ends
        code = engine.wait(60)
        err = engine.stderr.read()
        worker.join(60)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait(30)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert code == 0, f"exit status {code}: {err[-3000:]}"
    said = [line for line in err.splitlines() if line.startswith("sdseg-engine: ")]
    assert len(said) == 1 and "Ctrl-C" in said[0], err[-3000:]
    error = outcome.get("error")
    assert getattr(error, "code", None) == "engine_shutdown", f"the job's client got {error!r}: {err}"
