"""A cancel from another thread whose frame cannot be sent must leave the segment call's frames to it.

A real engine process serves the tiny random-weight model of engine_fixtures.py. The segment call
runs in a worker thread and is held inside its progress callback (a GUI slow to take an event)
while another client shuts the engine down: the engine sends the job's ``error engine_shutdown``
and exits. A cancel from the main thread then finds the connection broken. It used to read the
next frame itself (the one meant for the segment call), raise the engine's answer in the
cancelling thread and close the socket under the segment call, which then failed with a vague
``not_connected`` instead of :class:`EngineShutdownError`.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from engine_fixtures import model_folder  # noqa: F401 - a pytest fixture (a tiny model folder)
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineError, EngineProcess, EngineShutdownError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_a_cancel_that_cannot_be_sent_never_takes_the_segment_call_s_frames(model_folder):
    process = EngineProcess.start(model_folder, "cpu", extra_args=["--threads", "1"])
    try:
        client = process.client(timeout=10.0)
        in_callback, release, outcome = threading.Event(), threading.Event(), {}
        volume = np.zeros((400, 32, 32), np.int16)  # hundreds of batches: still running when the shutdown comes
        geometry = ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (32, 32, 400))

        def on_progress(event):
            in_callback.set()
            release.wait(60)  # the segment call reads nothing meanwhile

        def run():
            try:
                outcome["result"] = client.segment(volume, geometry, num_inference_steps=4, batch_size=1, on_progress=on_progress)
            except BaseException as exc:  # noqa: BLE001 - the assertion below names it
                outcome["error"] = exc

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        assert in_callback.wait(60), "no progress event"
        process.client().shutdown()  # someone else stops the engine; our job's last frame waits in our socket
        assert process.wait(30) == 0, "the engine did not exit after the shutdown request"

        cancel_errors = []
        for _ in range(20):  # the first send may still go out (answered by a reset); a later one fails
            try:
                client.cancel()
            except EngineError as exc:
                cancel_errors.append(exc)
                break
            time.sleep(0.05)
        release.set()
        worker.join(30)
        assert not worker.is_alive(), "segment() still blocked after the engine exited"
        error = outcome.get("error")
        assert isinstance(error, EngineShutdownError) and error.reason == "request", repr(error)
        assert cancel_errors == [], f"cancel() raised in the cancelling thread: {cancel_errors!r}"
    finally:
        process.stop()
