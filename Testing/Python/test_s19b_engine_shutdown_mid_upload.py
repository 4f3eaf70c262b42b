"""A client still uploading a ``segment`` volume when the engine shuts down hears ``engine_shutdown``, not a lost engine.

PROTOCOL.md, "Shutdown during a job": a client whose work the engine's shutdown stops is told so
with ``error engine_shutdown`` before its connection closes. A client whose request body was still
arriving when another client sent ``shutdown`` was not: the engine closed its connection in the
middle of the body, the client's send failed and it found no frame, so it raised
:class:`EngineDiedError` ("lost the connection to the engine while sending"), and the Slicer panel
said the engine died instead of that it was shut down. The engine now answers a request still
arriving at its shutdown with ``error engine_shutdown`` (the request's ``job_id``, the message says
the job was not started) before it closes the connection, and the client raises
:class:`EngineShutdownError` from it.

A real in-process engine (no model is needed: the job never starts) and real clients. The upload is
held deterministically: the uploading client's real TCP socket runs a hook before the first piece
of the volume, which waits until the engine says it is receiving the body (``pong`` ``busy``, as its
request-body budget is taken), has another client shut the engine down, and waits until the engine
has written to the uploader's connection (its frame, or the end of the stream) before the upload
goes on into the closed connection.
"""

from __future__ import annotations

import socket
from typing import Callable, List, Optional

import numpy as np
import pytest

from engine_fixtures import serving_on_port, wait_until
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient, EngineError
from SDSegLogic.server.protocol import SEND_PIECE_BYTES, wait_readable

TOKEN = "s19b-mid-upload-" + "u" * 32
VOLUME_SHAPE = (64, 256, 256)  # int16: 8 MiB, 8 pieces; far more than the socket buffers hold
LIMITS = {"max_request_bytes": 12 << 20, "max_inflight_request_bytes": 16 << 20}  # 8 MiB held: pong says busy


class _HookedSocket(socket.socket):
    """A real TCP socket that runs ``before_body`` once, before the first full piece of a frame body goes out."""

    before_body: Optional[Callable[["_HookedSocket"], None]] = None

    def sendall(self, data, *args):
        hook, self.before_body = self.before_body, None
        if hook is not None and len(data) == SEND_PIECE_BYTES:
            hook(self)
        elif hook is not None:
            self.before_body = hook
        return super().sendall(data, *args)


def _hooked_client(monkeypatch, port: int) -> "tuple[EngineClient, _HookedSocket]":
    made: List[_HookedSocket] = []

    def create_connection(address, timeout=None, *args, **kwargs):
        sock = _HookedSocket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address)
        made.append(sock)
        return sock

    monkeypatch.setattr(socket, "create_connection", create_connection)
    client = EngineClient("127.0.0.1", port, TOKEN, timeout=30.0).connect()
    monkeypatch.undo()
    return client, made[0]


def test_a_client_mid_upload_gets_engine_shutdown_when_another_client_shuts_the_engine_down(monkeypatch):
    with serving_on_port(None, TOKEN, **LIMITS) as (_, port):
        uploader, sock = _hooked_client(monkeypatch, port)
        other = EngineClient("127.0.0.1", port, TOKEN, timeout=30.0).connect()
        steps: List[str] = []

        def shut_down_meanwhile(hooked: _HookedSocket) -> None:
            wait_until(lambda: other.ping()["busy"], timeout=30.0, what="the engine receiving the volume")
            other.shutdown()
            steps.append("shutdown sent")
            if not wait_readable(hooked, 30.0):  # the engine wrote to this connection (a frame, or its end)
                raise AssertionError("the engine neither answered nor closed the uploading connection")
            steps.append("engine wrote")

        sock.before_body = shut_down_meanwhile
        volume = np.zeros(VOLUME_SHAPE, np.int16)
        geometry = ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), VOLUME_SHAPE[::-1])
        with pytest.raises(EngineError) as caught:
            uploader.segment(volume, geometry)
        assert steps == ["shutdown sent", "engine wrote"], f"the upload was not held as planned: {steps}"
        error = caught.value
        assert error.code == "engine_shutdown", (
            f"a client uploading when the engine shut down got {type(error).__name__} {error.code!r}: {error}")
        assert type(error).__name__ == "EngineShutdownError" and getattr(error, "reason", None) == "request", repr(error)
        assert "not started" in error.message, error.message
