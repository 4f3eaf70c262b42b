"""A ``job_id`` that is not a string comes back in JSON spelling, the same for ``segment`` and ``cancel``.

PROTOCOL.md, "Job ids": a ``segment`` may name its job with any JSON value but ``null`` and ``""``,
kept as a string. The engine made that string with Python's ``str()``: ``true`` came back as
``"True"`` and ``{"a": 1}`` as ``"{'a': 1}"``, which a client in another language cannot predict
(nor match its frames by). It is now the value's compact JSON text (``"true"``, ``'{"a":1}'``),
as every JSON library writes it; ``7`` is still ``"7"`` and a string is kept as it is.

A real in-process engine without a model: a ``segment`` whose geometry is unusable is refused
before it becomes a job (its own ``job_id`` echoed), and a ``cancel`` is acknowledged with its id.
"""

from __future__ import annotations

import json
import socket

import pytest

from engine_fixtures import raw_frame, read_reply, serving_on_port
from SDSegLogic.server.protocol import PROTOCOL_VERSION

TOKEN = "s19c-job-id-spelling-" + "j" * 32
IDS = [True, False, {"a": 1}, [1, "x"], 7, 1.5, "Ünïcode id"]


def _expected(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.fixture(scope="module")
def engine_socket():
    with serving_on_port(None, TOKEN) as (_, port):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
        assert read_reply(sock)["type"] == "welcome"
        yield sock
        sock.close()


@pytest.mark.parametrize("job_id", IDS, ids=repr)
def test_a_refused_segment_echoes_its_job_id_in_json_spelling(engine_socket, job_id):
    engine_socket.sendall(raw_frame({"type": "segment", "job_id": job_id, "geometry": {"spacing": "bad"}, "options": {}}))
    reply = read_reply(engine_socket)
    assert reply["type"] == "error", reply
    assert reply["job_id"] == _expected(job_id), f"job_id {json.dumps(job_id)} came back as {reply['job_id']!r}"


@pytest.mark.parametrize("job_id", IDS, ids=repr)
def test_a_cancel_echoes_its_job_id_in_json_spelling(engine_socket, job_id):
    engine_socket.sendall(raw_frame({"type": "cancel", "job_id": job_id}))
    reply = read_reply(engine_socket)
    assert reply["type"] == "cancel_ack" and reply["was_running"] is False, reply
    assert reply["job_id"] == _expected(job_id), f"job_id {json.dumps(job_id)} came back as {reply['job_id']!r}"
