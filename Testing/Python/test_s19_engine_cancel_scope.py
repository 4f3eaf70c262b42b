"""A ``cancel`` naming a job id reaches only its own connection's job; an empty id is refused by name.

* Job ids are the client's own (PROTOCOL.md, "Job ids"): two clients that both number their jobs
  from 1 are normal. Client B sending ``cancel`` with ``job_id`` 1 (its own job 1, long finished)
  stopped client A's running job 1, which then reported ``cancelled by another client``. A cancel
  naming an id now matches only a job started on the same connection; the documented id-less
  cancel still stops the running job of any connection.
* A ``cancel`` with ``job_id`` ``""`` (an id that names no job, as for ``segment``) was answered
  ``cancel_ack was_running: false``, as if the job had already ended, while the job ran on. It is
  now refused with ``error bad_request`` whose message names the value and the remedy.

A real in-process engine runs the jobs; its volume pipeline (the ``segment_fn`` it takes) reports one
progress event and then waits for its job's cancel, so the job is running whenever the test asks.
Every wait has a deadline; what the engine did is read from its replies (a connection's requests are
answered in order), not from sleeps.
"""

from __future__ import annotations

import socket
from typing import Any, Dict, List

import numpy as np

from engine_fixtures import raw_frame, read_reply, serving_engine, wait_until
from SDSegLogic.errors import CancelledError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.protocol import PROTOCOL_VERSION, encode_frame, geometry_to_json

TOKEN = "s19-cancel-scope-" + "c" * 32


class _RunsUntilCancelled:
    """A volume pipeline that reports one progress event, then waits for its job's cancel (at most 60 s)."""

    def __init__(self) -> None:
        self.should_cancel = None

    def __call__(self, image, geometry, predictor, *, progress, should_cancel, **options):
        self.should_cancel = should_cancel
        progress(0, int(image.shape[0]))
        wait_until(should_cancel, timeout=60.0, what="the job's cancel")
        raise CancelledError("cancelled between batches")


def _hello(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
    assert read_reply(sock)["type"] == "welcome"
    return sock


def _start_job(sock: socket.socket, job_id: Any) -> None:
    """Send a ``segment`` of a (2, 8, 8) int16 volume named ``job_id``; return once its first progress came."""
    volume = np.zeros((2, 8, 8), np.int16)
    geometry = geometry_to_json(ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (8, 8, 2)))
    sock.sendall(b"".join(bytes(c) for c in encode_frame({"type": "segment", "job_id": job_id, "geometry": geometry,
                                                           "options": {}}, {"image": volume})))
    assert read_reply(sock, 30)["type"] == "accepted"
    assert read_reply(sock, 30)["type"] == "progress"


def _ask(sock: socket.socket, header: Dict[str, Any]) -> Dict[str, Any]:
    sock.sendall(raw_frame(header))
    return read_reply(sock, 30)


def _until_last_frame(sock: socket.socket) -> List[Dict[str, Any]]:
    frames = [read_reply(sock, 60)]
    while frames[-1]["type"] not in ("result", "cancelled", "error"):
        frames.append(read_reply(sock, 60))
    return frames


def test_a_cancel_naming_an_id_does_not_reach_another_connections_job():
    pipeline = _RunsUntilCancelled()
    with serving_engine(None, TOKEN, segment_fn=pipeline) as engine:
        first, second = _hello(engine.port), _hello(engine.port)
        try:
            _start_job(first, 1)  # both clients number their jobs from 1
            ack = _ask(second, {"type": "cancel", "job_id": 1})  # the second client's own job 1, not running
            assert ack == {"type": "cancel_ack", "job_id": "1", "was_running": False}, ack
            assert not pipeline.should_cancel(), "a cancel for job 1 on another connection stopped the first client's job 1"
            assert _ask(first, {"type": "cancel", "job_id": 1})["type"] in ("cancel_ack", "cancelled")
            frames = [frame for frame in _until_last_frame(first) if frame["type"] != "cancel_ack"] or [{}]
            assert frames[-1] == {"type": "cancelled", "job_id": "1"}, frames  # its own cancel: no "by"
        finally:
            first.close()
            second.close()


def test_a_cancel_without_an_id_still_stops_the_running_job_of_another_connection():
    """The documented operator stop (a script on a shared engine) is kept: its client hears who stopped it."""
    pipeline = _RunsUntilCancelled()
    with serving_engine(None, TOKEN, segment_fn=pipeline) as engine:
        first, second = _hello(engine.port), _hello(engine.port)
        try:
            _start_job(first, 7)
            assert _ask(second, {"type": "cancel"}) == {"type": "cancel_ack", "job_id": None, "was_running": True}
            assert _until_last_frame(first)[-1] == {"type": "cancelled", "job_id": "7", "by": "another_client"}
        finally:
            first.close()
            second.close()


def test_a_cancel_with_an_empty_id_is_refused_by_name_and_the_job_runs_on():
    pipeline = _RunsUntilCancelled()
    with serving_engine(None, TOKEN, segment_fn=pipeline) as engine:
        sock = _hello(engine.port)
        try:
            _start_job(sock, "")  # an engine-chosen id, told in "accepted"
            reply = _ask(sock, {"type": "cancel", "job_id": ""})
            assert reply.get("type") == "error" and reply.get("code") == "bad_request", reply
            assert reply.get("job_id") == "" and '""' in reply.get("message", "") and "accepted" in reply["message"], reply
            assert not pipeline.should_cancel()
            assert _ask(sock, {"type": "ping"})["type"] == "pong"  # the connection is kept
            assert _ask(sock, {"type": "cancel"})["type"] in ("cancel_ack", "cancelled")
            assert _until_last_frame(sock)[-1]["type"] == "cancelled"
        finally:
            sock.close()
