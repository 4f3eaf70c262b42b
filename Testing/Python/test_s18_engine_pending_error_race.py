"""A request whose send fails is reported as a lost engine even when another thread closes the client meanwhile.

When a send fails, the client looks for an ``error`` the engine sent before it closed the
connection (``busy``, ``bad_token``...); with none, the failure is :class:`EngineDiedError`. That
look used to read the client's socket attribute twice: a ``close()`` from another thread (the
Slicer panel closing while a worker's request fails) landing between the two reads turned the lost
connection into ``not_connected`` ("close() was called ... connect again"), a different error for
the same failure. The interleaving is made deterministic here: the client's real TCP socket lets
another thread close the client, and waits for it, the first time its descriptor is looked up
after the send failed. A ``close()`` that lands just before a reply is read is ``not_connected``, the
error for a client closed under a call, where a bare ``OSError: Bad file descriptor`` escaped.
"""

from __future__ import annotations

import socket
import threading

import pytest

from engine_fixtures import FakeEngine
from SDSegLogic.server.client import EngineClient, EngineDiedError, EngineError

TOKEN = "t" * 32


class _CloseAfterFailedSend(socket.socket):
    """A real TCP socket: after a send on it fails, the next look-up of its descriptor runs ``on_race`` first;
    with ``race_on_settimeout``, the next change of its timeout (the start of a reply's read) does instead."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.send_failed = False
        self.on_race = None
        self.raced = False
        self.race_on_settimeout = False

    def settimeout(self, value) -> None:
        if self.race_on_settimeout and not self.raced and self.on_race is not None:
            self.raced = True
            self.on_race()
        super().settimeout(value)

    def sendall(self, data, *args):
        try:
            return super().sendall(data, *args)
        except OSError:
            self.send_failed = True
            raise

    def fileno(self) -> int:
        if self.send_failed and not self.raced and self.on_race is not None:
            self.raced = True
            self.on_race()
        return super().fileno()


@pytest.fixture()
def fake_engine():
    engine = FakeEngine(lambda index, header, sock: {"type": "pong"} if header["type"] == "ping" else None)  # hello: welcome
    try:
        yield engine
    finally:
        engine.close()


def _client_on_racing_socket(monkeypatch, port: int):
    """An :class:`EngineClient` connected to ``port`` through a :class:`_CloseAfterFailedSend` socket."""
    made = []

    def create_connection(address, timeout=None, *args, **kwargs):
        sock = _CloseAfterFailedSend(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address)
        made.append(sock)
        return sock

    monkeypatch.setattr(socket, "create_connection", create_connection)
    client = EngineClient("127.0.0.1", port, TOKEN, timeout=5.0).connect()
    monkeypatch.undo()
    return client, made[0]


def _close_from_another_thread(client: EngineClient) -> None:
    closer = threading.Thread(target=client.close)
    closer.start()
    closer.join()


def test_a_close_from_another_thread_while_a_failed_send_is_examined_still_reports_engine_died(monkeypatch, fake_engine):
    client, sock = _client_on_racing_socket(monkeypatch, fake_engine.port)
    sock.on_race = lambda: _close_from_another_thread(client)
    client.abort()  # the connection breaks: the next send fails (EPIPE)
    with pytest.raises(EngineError) as caught:
        client.ping()
    assert sock.raced, "the close from the other thread never ran: the test did not reach the race"
    assert isinstance(caught.value, EngineDiedError) and caught.value.code == "engine_died", (
        f"a failed send reported {caught.value.code!r} ({caught.value}) because another thread closed the client "
        "while the failure was examined")
    assert "lost the connection to the engine while sending" in caught.value.message


def test_without_the_race_a_failed_send_is_engine_died_too(monkeypatch, fake_engine):
    client, sock = _client_on_racing_socket(monkeypatch, fake_engine.port)
    client.abort()
    with pytest.raises(EngineDiedError, match="lost the connection to the engine while sending"):
        client.ping()
    assert client.ping()["type"] == "pong"  # the failure closed the connection; the next request reconnects


def test_a_close_from_another_thread_just_before_a_reply_is_read_is_not_connected(monkeypatch, fake_engine):
    client, sock = _client_on_racing_socket(monkeypatch, fake_engine.port)
    sock.on_race, sock.race_on_settimeout = (lambda: _close_from_another_thread(client)), True
    with pytest.raises(EngineError) as caught:  # a bare OSError (Bad file descriptor) escaped before
        client.ping()
    assert sock.raced, "the close from the other thread never ran: the test did not reach the race"
    assert caught.value.code == "not_connected", f"{caught.value.code!r}: {caught.value}"
    assert client.ping()["type"] == "pong"  # a later request connects again
