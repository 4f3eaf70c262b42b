"""A request refused before it became a job says which request: its own ``job_id``, or ``null`` when it named none.

A request-body-budget refusal echoed ``"job_id": ""`` for a ``segment`` with an empty id (and left the
key out for one without), while the engine's other refusals of such a request (a bad request, ``busy``
because a job runs) named an id the engine had just made up and never told the client, so no
client could match either. Now every refusal of a request that named no job says ``"job_id": null``
(PROTOCOL.md, "Job ids"); a job started from it still gets an engine-chosen id, told in ``accepted``.

A real in-process engine serves a tiny random-weight model (engine_fixtures.py); the running job of
the ``busy`` case is the real volume pipeline, held at its start until the test has been refused.
"""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from engine_fixtures import raw_frame, read_reply, serving_on_port, tiny_pipeline_fixture, wait_until
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.protocol import PROTOCOL_VERSION, encode_frame, geometry_to_json

TOKEN = "s18d-refusal-ids-" + "r" * 32
MIB = 1 << 20
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


pipeline = tiny_pipeline_fixture("tiny-ids", "m")


def serving(pipeline, segment_fn=None, **options):
    return serving_on_port(pipeline, TOKEN, segment_fn, **options)


def _hello(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
    assert read_reply(sock)["type"] == "welcome"
    return sock


def _segment_bytes(slices: int, job_id, geometry: bool = True) -> bytes:
    """A whole ``segment`` frame of a float32 (slices, 32, 32) volume; ``job_id`` None: no such key."""
    volume = np.random.default_rng(0).uniform(-200, 300, (slices, 32, 32)).astype(np.float32)
    header = {"type": "segment", "options": {"slices": [0, 1]}}
    if geometry:
        header["geometry"] = geometry_to_json(ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (32, 32, slices)))
    if job_id is not None:
        header["job_id"] = job_id
    return b"".join(bytes(chunk) for chunk in encode_frame(header, {"image": volume}))


@pytest.mark.parametrize("job_id, expected", [(None, None), ("", None), ("mine", "mine"), (0, "0")])
def test_a_receive_budget_refusal_names_the_request_or_null(pipeline, job_id, expected):
    with serving(pipeline, max_request_bytes=MIB, max_inflight_request_bytes=MIB) as (server, port):
        big = _segment_bytes(254, "holder")  # about 1 MiB: the whole budget, held mid-body
        holder = _hello(port)
        holder.sendall(big[:-4096])
        try:
            wait_until(lambda: server._budget.in_use > MIB // 2, 30, "the holder counted")
            with _hello(port) as late:
                late.sendall(_segment_bytes(150, job_id))  # 600 KiB: does not fit
                refusal = read_reply(late, 30)
                assert refusal["code"] == "busy" and refusal["reason"] == "receive_budget", refusal
                assert "job_id" in refusal and refusal["job_id"] == expected, refusal
        finally:
            holder.close()


@pytest.mark.parametrize("job_id, expected", [(None, None), ("", None), ("mine", "mine")])
def test_a_bad_segment_request_names_the_request_or_null(pipeline, job_id, expected):
    with serving(pipeline) as (_, port), _hello(port) as sock:
        sock.sendall(_segment_bytes(2, job_id, geometry=False))
        refusal = read_reply(sock, 30)
        assert refusal["type"] == "error" and refusal["code"] == "geometry_error", refusal
        assert "job_id" in refusal and refusal["job_id"] == expected, refusal
        sock.sendall(_segment_bytes(2, job_id))  # the same request with its geometry: a job, with an id
        accepted = read_reply(sock, 30)
        assert accepted["type"] == "accepted" and accepted["job_id"] == (expected or accepted["job_id"]), accepted
        assert isinstance(accepted["job_id"], str) and accepted["job_id"], accepted


@pytest.mark.parametrize("job_id", [None, ""])
def test_busy_for_a_running_job_says_null_for_a_request_without_an_id(pipeline, job_id):
    from SDSegLogic.segment import segment_array

    started, go = threading.Event(), threading.Event()

    def held_segment(*args, **kwargs):  # the real pipeline, held at its start until the refusal was read
        started.set()
        go.wait(60)
        return segment_array(*args, **kwargs)

    with serving(pipeline, segment_fn=held_segment) as (_, port), _hello(port) as first, _hello(port) as second:
        try:
            first.sendall(_segment_bytes(2, "running"))
            assert read_reply(first, 30)["type"] == "accepted"
            wait_until(started.is_set, 30, "the first job started")
            second.sendall(_segment_bytes(2, job_id))
            refusal = read_reply(second, 30)
            assert refusal["code"] == "busy" and refusal["reason"] == "job_running", refusal
            assert "job_id" in refusal and refusal["job_id"] is None, refusal
        finally:
            go.set()
