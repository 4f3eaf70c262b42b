"""A job id sent as a JSON number names the same job for ``segment`` and for ``cancel``.

``segment`` keeps ``str(job_id)``; ``cancel`` compared the raw value, so a client that numbers its
jobs (``"job_id": 7``) could never cancel one. A real in-process engine serves a tiny random-weight
model (engine_fixtures.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from engine_fixtures import make_tiny_model, raw_frame, read_reply, serving_engine
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.protocol import PROTOCOL_VERSION, geometry_to_json

TOKEN = "job-id-" + "t" * 32
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture()
def server(tmp_path):
    from SDSegLogic.pipeline import SDSegPipeline

    pipeline = SDSegPipeline.from_pretrained(make_tiny_model(tmp_path / "tiny-job-id"), device="cpu")
    with serving_engine(pipeline, TOKEN) as engine:
        yield engine


def test_a_numeric_job_id_can_be_cancelled(server):
    import socket

    image = np.zeros((200, 32, 32), np.int16)  # long enough to be running when the cancel arrives
    geometry = ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (32, 32, 200))
    header = {"type": "segment", "job_id": 7, "geometry": geometry_to_json(geometry), "options": {"batch_size": 1},
              "arrays": [{"name": "image", "dtype": "int16", "shape": list(image.shape), "offset": 0,
                          "nbytes": image.nbytes}]}
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
        assert read_reply(sock)["type"] == "welcome"
        sock.sendall(raw_frame(header, image.tobytes()))
        accepted = read_reply(sock, timeout=30)
        assert accepted["type"] == "accepted" and accepted["job_id"] == "7", accepted
        first = read_reply(sock, timeout=30)
        assert first["type"] == "progress", first
        sock.sendall(raw_frame({"type": "cancel", "job_id": 7}))
        replies = []
        while not any(r["type"] in ("cancelled", "error", "result") for r in replies):
            replies.append(read_reply(sock, timeout=30))
        acks = [r for r in replies if r["type"] == "cancel_ack"]
        if not acks:  # the ack may follow the job's last frame
            acks = [read_reply(sock, timeout=10)]
    assert acks[0]["type"] == "cancel_ack" and acks[0]["was_running"] is True, acks
    assert replies[-1] == {"type": "cancelled", "job_id": "7"}, replies
