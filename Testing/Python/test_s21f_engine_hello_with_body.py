"""A ``hello`` that declares a body is refused with the hello's own rule, not a remedy that cannot work.

PROTOCOL.md: the first (hello) frame "may carry no body". A hello declaring a 10-byte body was
answered ``request_too_large`` "request body of 10 bytes exceeds this engine's limit of 0 bytes; send
fewer slices at a time (slice range) or start the engine with a larger --max-request-bytes": no
slices are sent in a hello, and no ``--max-request-bytes`` lets one through.
"""

from __future__ import annotations

import socket

from engine_fixtures import raw_frame, read_reply, serving_engine, tiny_pipeline_fixture

TOKEN = "s21f-hello-body-" + "h" * 32
pipeline = tiny_pipeline_fixture("tiny-s21f-hello")


def test_a_hello_with_a_body_is_told_that_a_hello_has_none(pipeline):
    with serving_engine(pipeline, TOKEN) as engine:
        with socket.create_connection((engine.host, engine.port), timeout=10) as sock:
            sock.sendall(raw_frame({"type": "hello", "protocol": 1, "token": TOKEN}, b"0123456789"))
            reply = read_reply(sock, 10)
        with socket.create_connection((engine.host, engine.port), timeout=10) as sock:  # the engine still welcomes a good hello
            sock.sendall(raw_frame({"type": "hello", "protocol": 1, "token": TOKEN}))
            assert read_reply(sock, 10)["type"] == "welcome"
    assert reply["type"] == "error" and reply["code"] == "request_too_large", reply
    message = reply["message"]
    assert "--max-request-bytes" not in message and "slices" not in message, message
    assert "hello" in message and "no body" in message, message
