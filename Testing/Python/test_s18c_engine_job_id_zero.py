"""A client's job id ``0`` (or ``"0"``... any id but an absent one) names its job; only a missing id is replaced.

The engine took ``header.get("job_id") or <random id>``: a client that numbers its jobs from 0 got
its first job's ``accepted``, ``progress`` and ``result`` under a random id (``"3f2a9c1e0b7d"``), so
it could neither match them to its job nor ``cancel`` it by its id. A real in-process engine serves
a tiny random-weight model (engine_fixtures.py).
"""

from __future__ import annotations

import socket

import numpy as np
import pytest

from engine_fixtures import make_tiny_model, raw_frame, read_reply, serving_engine
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.protocol import PROTOCOL_VERSION, geometry_to_json

TOKEN = "s18c-job-id-zero-" + "z" * 32
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from SDSegLogic.pipeline import SDSegPipeline

    pipeline = SDSegPipeline.from_pretrained(make_tiny_model(tmp_path_factory.mktemp("m") / "tiny-zero"), device="cpu")
    with serving_engine(pipeline, TOKEN) as engine:
        yield engine


def _job_frames(port: int, job_id) -> list:
    image = np.random.default_rng(0).normal(0, 100, (2, 16, 16)).astype(np.int16)
    geometry = ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (16, 16, 2))
    header = {"type": "segment", "geometry": geometry_to_json(geometry),
              "arrays": [{"name": "image", "dtype": "int16", "shape": list(image.shape), "offset": 0, "nbytes": image.nbytes}]}
    if job_id is not None:
        header["job_id"] = job_id
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
        assert read_reply(sock)["type"] == "welcome"
        sock.sendall(raw_frame(header, image.tobytes()))
        frames = [read_reply(sock, timeout=60)]
        while frames[-1]["type"] not in ("result", "error", "cancelled"):
            frames.append(read_reply(sock, timeout=60))
    return frames


@pytest.mark.parametrize("job_id, expected", [(0, "0"), (0.0, "0.0"), ("0", "0")])
def test_a_falsy_job_id_is_kept(server, job_id, expected):
    frames = _job_frames(server.port, job_id)
    assert frames[-1]["type"] == "result", frames[-1]
    assert {frame["job_id"] for frame in frames} == {expected}, frames


@pytest.mark.parametrize("job_id", [None, ""])
def test_a_missing_or_empty_job_id_gets_one_from_the_engine(server, job_id):
    frames = _job_frames(server.port, job_id)
    ids = {frame["job_id"] for frame in frames}
    assert frames[-1]["type"] == "result" and len(ids) == 1 and ids != {""}, frames
