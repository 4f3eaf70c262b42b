"""Connection limits of the engine: peers without the token cannot crowd out a client that has it.

An in-process :class:`~SDSegLogic.server.engine.EngineServer` serves the tiny random-weight model of
engine_fixtures.py with ``max_connections=2``. Silent unauthenticated sockets fill only the pool of
connections still authenticating (``PENDING_PER_CONNECTION`` x 2), never the authenticated one, and
a full pool drops its oldest socket for a new one, so a client whose hello follows at once gets in;
a third authenticated client is told ``busy`` after its hello, instead of a welcome.
"""

from __future__ import annotations

import socket
import threading
from contextlib import ExitStack
from pathlib import Path

import pytest

from engine_fixtures import make_tiny_model, raw_frame, read_reply, wait_until
from SDSegLogic.server.client import EngineClient, EngineError
from SDSegLogic.server.engine import PENDING_PER_CONNECTION, EngineOptions, EngineServer

TOKEN = "limits-" + "t" * 32


@pytest.fixture()
def server(tmp_path: Path):
    from SDSegLogic.pipeline import SDSegPipeline

    pipeline = SDSegPipeline.from_pretrained(make_tiny_model(tmp_path / "tiny-limits"), device="cpu")
    engine = EngineServer(pipeline, EngineOptions(token=TOKEN, max_connections=2, auth_timeout_s=30.0))
    port = engine.bind()
    threading.Thread(target=engine.serve_forever, daemon=True).start()
    yield engine, port
    engine.shutdown()


def _silent(stack: ExitStack, port: int) -> socket.socket:
    return stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))


def test_silent_unauthenticated_sockets_do_not_lock_out_a_client_with_the_token(server):
    engine, port = server
    with ExitStack() as stack:
        silent = [_silent(stack, port) for _ in range(PENDING_PER_CONNECTION * 2)]
        wait_until(lambda: len(engine._pending) == PENDING_PER_CONNECTION * 2, what="silent sockets accepted")
        oldest = silent[0]
        with EngineClient("127.0.0.1", port, TOKEN).connect() as client:  # not crowded out: the oldest silent one goes
            assert client.ping()["type"] == "pong"
        assert oldest.recv(1) == b""  # closed by the engine
        assert len(engine._pending) == PENDING_PER_CONNECTION * 2 - 1  # the others still wait for their timeout


def test_authenticated_connections_beyond_the_limit_are_told_busy_instead_of_welcome(server):
    engine, port = server
    with EngineClient("127.0.0.1", port, TOKEN).connect() as first, EngineClient("127.0.0.1", port, TOKEN).connect() as second:
        with pytest.raises(EngineError) as caught:
            EngineClient("127.0.0.1", port, TOKEN).connect()
        assert caught.value.code == "busy" and "too many connections" in caught.value.message
        assert first.ping()["type"] == "pong" and second.ping()["type"] == "pong"
    wait_until(lambda: not engine._connections, what="closed clients released")
    with EngineClient("127.0.0.1", port, TOKEN).connect() as again:  # their slots are free again
        assert again.ping()["type"] == "pong"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as bad:  # a wrong token is still refused
        bad.sendall(raw_frame({"type": "hello", "protocol": 1, "token": "wrong" * 8}))
        assert read_reply(bad)["code"] in ("bad_token", "protocol_version")
