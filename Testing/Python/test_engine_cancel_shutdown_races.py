"""The engine and its client where two things cross: a cancel and the job's end, a shutdown and a result in transit.

Each test reproduces a defect found by attacking a running engine (it fails on the code before the fix). A real
in-process :class:`~SDSegLogic.server.engine.EngineServer` serves the tiny random-weight model of
engine_fixtures.py; every wait has a deadline.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

import numpy as np
import pytest

from engine_fixtures import make_tiny_model, raw_frame, read_reply, serving_engine, wait_until
from SDSegLogic.errors import GeometryError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient
from SDSegLogic.server.protocol import PROTOCOL_VERSION, geometry_from_json, geometry_to_json, recv_frame

TOKEN = "audit-races-" + "t" * 32
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from SDSegLogic.pipeline import SDSegPipeline

    return SDSegPipeline.from_pretrained(make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-races"), device="cpu")


@pytest.fixture()
def server(pipeline):
    with serving_engine(pipeline, TOKEN) as engine:
        yield engine


def _geometry(shape_kji) -> ImageGeometry:
    k, j, i = shape_kji
    return ImageGeometry((0.7, 0.8, 2.5), (-10.0, 20.0, 30.0), np.eye(3), (i, j, k))


def _authenticated(port: int, receive_buffer: int = 0) -> socket.socket:
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
    assert read_reply(sock)["type"] == "welcome"
    return sock


def _segment_frame(shape, header_text=None, **options) -> bytes:
    image = np.zeros(shape, np.int16)
    header = {"type": "segment", "job_id": "audit-job", "geometry": geometry_to_json(_geometry(shape)), "options": options,
              "arrays": [{"name": "image", "dtype": "int16", "shape": list(shape), "offset": 0, "nbytes": image.nbytes}]}
    text = json.dumps(header)
    if header_text is not None:
        text = header_text(text)
    data = text.encode()
    return struct.pack("<4sIQ", b"SDSG", len(data), image.nbytes) + data + image.tobytes()


def test_a_cancel_that_crosses_the_result_leaves_the_connection_in_step(server):
    """The user presses Cancel just as the job finishes: the result wins and the cancel's late
    ``cancel_ack`` used to be read as the answer to the next request (``expected 'pong', got
    'cancel_ack'``), and every later request on that client got the previous one's answer."""
    volume = np.zeros((3, 8, 8), np.int16)
    finished = threading.Event()

    def on_progress(event):
        if event["done"] == event["total"]:
            time.sleep(0.5)  # the engine sends the result meanwhile; the cancel goes out after it
            finished.set()

    with EngineClient("127.0.0.1", server.port, TOKEN) as client:
        output = client.segment(volume, _geometry(volume.shape), batch_size=1, on_progress=on_progress,
                                should_cancel=finished.is_set)
        assert output.labels.shape == volume.shape and output.geometry == _geometry(volume.shape)
        assert client.ping()["type"] == "pong"
        assert client.info()["type"] == "info"
        assert client.ping()["type"] == "pong"
        second = client.segment(volume, _geometry(volume.shape))
        assert second.geometry == _geometry(volume.shape)


def test_a_result_in_transit_when_the_engine_shuts_down_arrives_whole(server):
    """A shutdown while a finished job's large result was being sent used to cut the frame off
    (the job slot is already free then, so the shutdown did not wait for it): the client lost a
    complete segmentation to a broken connection."""
    shape = (8, 512, 512)  # labels and probabilities: about 10 MB, far more than the socket buffers hold
    sock = _authenticated(server.port, receive_buffer=4096)
    try:
        sock.sendall(_segment_frame(shape, want_probabilities=True))
        event = {}
        while not (event.get("type") == "progress" and event["done"] == event["total"]):
            event = read_reply(sock, 60)
            assert event["type"] in ("accepted", "progress"), event
        wait_until(lambda: server._job is None, 60, "the job ends (its result is being sent)")
        stopper = threading.Thread(target=server.shutdown, args=("request",), daemon=True)
        stopper.start()
        time.sleep(0.3)  # the shutdown is under way before the client reads on
        sock.settimeout(20)
        result = recv_frame(sock, 1 << 20, 1 << 30)
        assert result.header["type"] == "result" and result.header["job_id"] == "audit-job"
        assert result.arrays["labels"].shape == shape and result.arrays["probabilities"].shape == shape
        assert geometry_from_json(result.header["geometry"]) == _geometry(shape)
        stopper.join(15)
        assert not stopper.is_alive(), "the shutdown did not return"
    finally:
        sock.close()


@pytest.mark.parametrize("field", ["origin", "spacing", "direction"])
def test_a_geometry_number_too_large_for_a_float_is_a_geometry_error(server, field):
    """A JSON integer such as 10**400 in the geometry used to end the request with ``internal_error``
    ("unexpected OverflowError") and a traceback in the engine log, not the ``geometry_error`` the
    protocol promises for a bad geometry."""
    huge = "1" + "0" * 400
    replacements = {"origin": ('"origin": [-10.0,', f'"origin": [{huge},'),
                    "spacing": ('"spacing": [0.7,', f'"spacing": [{huge},'),
                    "direction": ('"direction": [[1.0,', f'"direction": [[{huge},')}
    old, new = replacements[field]
    with _authenticated(server.port) as sock:
        sock.sendall(_segment_frame((2, 8, 8), header_text=lambda text: text.replace(old, new)))
        reply = read_reply(sock, 30)
        assert reply["type"] == "error" and reply["code"] == "geometry_error", reply
        assert field in reply["message"], reply
        sock.sendall(raw_frame({"type": "ping"}))
        assert read_reply(sock)["type"] == "pong"
    with pytest.raises(GeometryError, match="too large"):
        geometry_from_json({**geometry_to_json(_geometry((2, 8, 8))), "origin": [10**400, 0, 0]})

