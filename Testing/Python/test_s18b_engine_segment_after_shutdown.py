"""A ``segment`` request whose body finishes arriving after the engine began shutting down is refused.

A connection thread checks for a shutdown only between requests; one already reading a request
body when the shutdown began went on to start the job once the last byte came. The shutdown had
already looked for a running job (none), so nothing stopped the new one: it ran while the engine
closed its connections, and its client lost it to a broken connection instead of hearing
``engine_shutdown``. The race is made deterministic: the test serves one connection of a real
in-process :class:`~SDSegLogic.server.engine.EngineServer` (tiny random-weight model) itself, so
that nothing but the test acts on the engine's ``stop``; it begins the shutdown while the engine
waits for the last byte of the body, then sends that byte.
"""

from __future__ import annotations

import json
import socket
import struct
import threading

import numpy as np
import pytest

from engine_fixtures import raw_frame, read_reply, tiny_pipeline_fixture, wait_until
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.engine import EngineOptions, EngineServer
from SDSegLogic.server.protocol import PROTOCOL_VERSION, geometry_to_json

TOKEN = "s18b-segment-after-shutdown-" + "s" * 32
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


pipeline = tiny_pipeline_fixture("tiny-late")


def _segment_frame(shape) -> bytes:
    k, j, i = shape
    image = np.zeros(shape, np.int16)
    geometry = ImageGeometry((0.7, 0.8, 2.5), (0.0, 0.0, 0.0), np.eye(3), (i, j, k))
    header = {"type": "segment", "job_id": "late-job", "geometry": geometry_to_json(geometry), "options": {},
              "arrays": [{"name": "image", "dtype": "int16", "shape": list(shape), "offset": 0, "nbytes": image.nbytes}]}
    data = json.dumps(header).encode()
    return struct.pack("<4sIQ", b"SDSG", len(data), image.nbytes) + data + image.tobytes()


def _serve_one_connection(engine: EngineServer) -> threading.Thread:
    """Accept one connection and serve it in a thread (no accept loop, so no shutdown of its own)."""
    def serve() -> None:
        while True:
            try:
                sock, peer = engine._listener.accept()
            except socket.timeout:
                continue
            engine._serve_connection(sock, peer)
            return

    thread = threading.Thread(target=serve, daemon=True, name="s18b-one-connection")
    thread.start()
    return thread


@pytest.mark.parametrize("reason", ["request", "signal"])
def test_a_segment_body_completed_after_the_shutdown_began_is_refused(pipeline, reason):
    engine = EngineServer(pipeline, EngineOptions(token=TOKEN))
    engine.bind()
    serving = _serve_one_connection(engine)
    sock = socket.create_connection(("127.0.0.1", engine.port), timeout=30)
    try:
        sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
        assert read_reply(sock)["type"] == "welcome"
        frame = _segment_frame((2, 160, 160))  # 100 KiB: a body counted by the request-body budget
        sock.sendall(frame[:-1])
        wait_until(lambda: engine._budget.in_use > 0, 30, "the engine reads the request body")
        engine.stop(reason)  # the shutdown begins while the body's last byte is still missing
        sock.sendall(frame[-1:])
        reply = read_reply(sock, 30)
        assert reply["type"] == "error" and reply["code"] == "engine_shutdown", reply
        assert reply["job_id"] == "late-job" and reply["reason"] == reason, reply
        assert "not started" in reply["message"], reply
        wait_until(lambda: engine._budget.in_use == 0, 30, "the body's bytes go back to the budget")
        assert engine._job is None and engine._job_thread is None  # no job was ever started
        assert engine._job_lock.acquire(blocking=False)  # and the slot is free
        engine._job_lock.release()
    finally:
        sock.close()
        engine.shutdown()
        serving.join(15)
    assert not serving.is_alive()
