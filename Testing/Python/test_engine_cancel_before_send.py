"""A client's cancel() that comes before its segment call has sent the job (it still connects or uploads).

A real in-process :class:`~SDSegLogic.server.engine.EngineServer` serves the tiny random-weight model of
engine_fixtures.py; the moment of the cancel is pinned down by the engine itself (bound but not yet serving,
so the client waits for its ``welcome``), not by sleeps; every wait has a deadline.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine_fixtures import tiny_pipeline_fixture, wait_until
from SDSegLogic.errors import CancelledError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient
from SDSegLogic.server.engine import EngineOptions, EngineServer

TOKEN = "cancel-before-send-" + "c" * 32
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


pipeline = tiny_pipeline_fixture("tiny-cancel")


def _geometry(shape_kji) -> ImageGeometry:
    k, j, i = shape_kji
    return ImageGeometry((0.7, 0.8, 2.5), (-10.0, 20.0, 30.0), np.eye(3), (i, j, k))


def test_a_cancel_while_the_client_still_connects_stops_the_job(pipeline):
    """The user presses Cancel right after Segment, while the client still waits for the engine's ``welcome``:
    no job id was known yet, so cancel() sent nothing and returned, and the job then ran to its end and
    returned a result the user had cancelled."""
    server = EngineServer(pipeline, EngineOptions(token=TOKEN))
    server.bind()  # listening, not serving yet (as while its model loads): the client's hello waits
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    volume = np.zeros((4, 8, 8), np.int16)
    client = EngineClient("127.0.0.1", server.port, TOKEN, timeout=60)
    outcome = {}

    def run() -> None:
        try:
            outcome["result"] = client.segment(volume, _geometry(volume.shape), batch_size=1)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    try:
        worker.start()
        wait_until(lambda: client._sock is not None, 30, "the client connects (its segment call has started)")
        client.cancel()  # from the GUI thread, while the segment call waits for the welcome
        serving.start()
        worker.join(60)
        assert not worker.is_alive(), "the segment call did not return"
        assert "result" not in outcome, "a cancelled job returned a result"
        assert isinstance(outcome.get("error"), CancelledError), outcome
        with EngineClient("127.0.0.1", server.port, TOKEN) as other:
            assert other.ping() == {"type": "pong", "busy": False}  # no job was started behind the user's back
        second = client.segment(volume, _geometry(volume.shape))  # a later job on the same client is not cancelled
        assert second.labels.shape == volume.shape
    finally:
        client.close()
        server.shutdown()
        serving.join(15)


def test_a_cancel_without_a_running_segment_call_does_not_cancel_the_next_one(pipeline):
    """cancel() between jobs is a no-op: it must not be remembered for the next segment call."""
    server = EngineServer(pipeline, EngineOptions(token=TOKEN))
    server.bind()
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    volume = np.zeros((2, 8, 8), np.int16)
    try:
        with EngineClient("127.0.0.1", server.port, TOKEN) as client:
            client.cancel()
            assert client.segment(volume, _geometry(volume.shape)).labels.shape == volume.shape
    finally:
        server.shutdown()
        serving.join(15)
