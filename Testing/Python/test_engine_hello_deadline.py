"""The engine's hello has one deadline in all, not one per read (PROTOCOL.md, Session: "within 10 s, sends hello").

A real in-process :class:`~SDSegLogic.server.engine.EngineServer` (no model is needed before the hello) with a
short authentication timeout; a raw socket plays the slow peer.
"""

from __future__ import annotations

import select
import socket
import threading
import time

import pytest

from engine_fixtures import raw_frame, read_reply
from SDSegLogic.server.client import EngineClient
from SDSegLogic.server.engine import EngineOptions, EngineServer
from SDSegLogic.server.protocol import PROTOCOL_VERSION

TOKEN = "hello-deadline-" + "h" * 32
AUTH_TIMEOUT_S = 1.0


@pytest.fixture()
def server():
    engine = EngineServer(None, EngineOptions(token=TOKEN, auth_timeout_s=AUTH_TIMEOUT_S))
    engine.bind()
    serving = threading.Thread(target=engine.serve_forever, daemon=True)
    serving.start()
    yield engine
    engine.shutdown()
    serving.join(15)


def _answered(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def test_a_hello_trickled_byte_by_byte_is_refused_at_the_deadline(server):
    """A peer that sends its hello one byte at a time, each byte well within the authentication timeout, used
    to be welcomed however long the whole hello took (the timeout was per read): a tokenless peer could hold
    a connection open for hours with a 4 KiB hello. Now the whole hello must come within the timeout."""
    hello = raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN})
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        started, sent = time.monotonic(), 0
        while sent < len(hello) - 1 and time.monotonic() - started < 4 * AUTH_TIMEOUT_S and not _answered(sock):
            sock.sendall(hello[sent:sent + 1])  # one byte every quarter of the timeout
            sent += 1
            time.sleep(AUTH_TIMEOUT_S / 4)
        if not _answered(sock):  # the old engine waited patiently: give it the rest of the hello at once
            sock.sendall(hello[sent:])
        reply = read_reply(sock, 10)
        assert reply["type"] == "error" and reply["code"] == "auth_timeout", reply
        sock.settimeout(10)
        assert sock.recv(1) == b"", "the connection was not closed"


def test_a_prompt_hello_is_still_welcomed(server):
    with EngineClient("127.0.0.1", server.port, TOKEN) as client:
        assert client.welcome["type"] == "welcome" and client.ping()["type"] == "pong"
