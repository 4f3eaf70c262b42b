"""A trickling upload gets ``error upload_too_slow`` and gives its share of the request-body budget back.

PROTOCOL.md, "Upload deadline": ``--io-timeout`` bounds each read alone, so a client that sent a
declared 4 MiB body one byte every 0.3 s never tripped it and held its 4 MiB of the budget for as
long as it liked; other clients' ``ping`` said ``busy`` all that time. A request frame of n bytes
must now arrive within ``max(upload_floor_s, n / upload_min_bytes_per_s)`` seconds of its first
byte: a slower one is answered ``error upload_too_slow`` (what arrived, the rule, the remedy), the
connection is closed and the budget is free again. A steady upload is not affected.

A real in-process engine (no model: no job ever starts) with small configured limits, and a real
socket that trickles its body. No timing is asserted: each wait is generous and only bounds a hang.
"""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from engine_fixtures import raw_frame, read_reply, serving_on_port, wait_until
from SDSegLogic.errors import SDSegError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient, EngineError
from SDSegLogic.server.engine import EngineOptions
from SDSegLogic.server.protocol import PROTOCOL_VERSION, SEND_PIECE_BYTES

TOKEN = "s19c-slow-upload-" + "s" * 32
BODY = 4 << 20  # declared body: counted against the budget from its prefix
LIMITS = {"max_request_bytes": 6 << 20, "max_inflight_request_bytes": 8 << 20, "io_timeout_s": 1.0,
          "upload_floor_s": 1.5, "upload_min_bytes_per_s": 64 << 20}  # a 4 MiB frame may take 1.5 s


def _hello(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
    assert read_reply(sock)["type"] == "welcome"
    return sock


def _trickle(sock: socket.socket, stop: threading.Event) -> None:
    """Send one body byte every 0.3 s (well within io_timeout_s) until stopped or the engine closes."""
    for _ in range(200):  # bounded: at most 60 s, should the engine never answer
        if stop.wait(0.3):
            return
        try:
            sock.sendall(b"\0")
        except OSError:
            return


def test_a_trickling_upload_is_answered_upload_too_slow_and_frees_the_budget():
    with serving_on_port(None, TOKEN, **LIMITS) as (engine, port):
        slow = _hello(port)
        slow.sendall(raw_frame({"type": "segment", "job_id": "slow-1"}, declared_body=BODY))
        other = EngineClient("127.0.0.1", port, TOKEN, timeout=30.0).connect()
        wait_until(lambda: engine._budget.in_use == BODY, timeout=10.0, what="the engine counting the declared body")
        assert other.ping()["busy"], "8 MiB budget, 4 MiB held: a 6 MiB request no longer fits, ping must say busy"
        stop = threading.Event()
        sender = threading.Thread(target=_trickle, args=(slow, stop), daemon=True)
        sender.start()
        try:
            reply = read_reply(slow, timeout=30.0)  # old engines: socket.timeout here, the budget still held
        finally:
            stop.set()
            sender.join(10)
        assert reply["type"] == "error" and reply["code"] == "upload_too_slow", reply
        assert reply["job_id"] == "slow-1", reply
        assert 0 < reply["received_bytes"] < reply["declared_bytes"], reply
        assert reply["allowed_s"] == pytest.approx(1.5), reply
        for words in ("too slowly", "bytes", "MiB/s", "again"):  # what was too slow, the rule, the remedy
            assert words in reply["message"], reply["message"]
        wait_until(lambda: engine._budget.in_use == 0, timeout=10.0, what="the budget given back")
        assert not other.ping()["busy"], "the trickling upload still holds the budget"
        other.close()
        slow.close()


def test_a_steady_upload_larger_than_the_floor_allows_still_arrives():
    """The allowance grows with the size: a 4 MiB body at the minimum rate of 1 MiB/s has 4 s, not the 1.5 s floor."""
    limits = {**LIMITS, "upload_min_bytes_per_s": 1 << 20, "io_timeout_s": 5.0}
    with serving_on_port(None, TOKEN, **limits) as (engine, port):
        sock = _hello(port)
        body = np.zeros(BODY, np.uint8).tobytes()
        header = {"type": "segment", "job_id": "big", "geometry": {"spacing": "bad"}, "options": {},
                  "arrays": [{"name": "image", "dtype": "uint8", "shape": [BODY], "offset": 0, "nbytes": BODY}]}
        sock.sendall(raw_frame(header, body))
        reply = read_reply(sock, timeout=30.0)
        assert reply["code"] != "upload_too_slow", reply
        assert reply["job_id"] == "big", reply  # the request was read and answered on its merits
        sock.sendall(raw_frame({"type": "ping"}))
        assert read_reply(sock)["type"] == "pong"  # the connection is kept
        sock.close()


def test_the_welcome_tells_the_upload_rule():
    with serving_on_port(None, TOKEN, **LIMITS) as (_, port):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
        limits = read_reply(sock)["limits"]
        sock.close()
    assert limits["upload_floor_s"] == 1.5 and limits["upload_min_bytes_per_s"] == 64 << 20, limits


@pytest.mark.parametrize("name, value", [("upload_floor_s", 0), ("upload_min_bytes_per_s", float("nan")),
                                         ("upload_min_bytes_per_s", float("inf")), ("upload_floor_s", True)])
def test_an_unusable_upload_rule_is_refused_naming_the_option(name, value):
    with pytest.raises(SDSegError, match=name):
        EngineOptions(token=TOKEN, **{name: value}).validate()


class _ThrottledSocket(socket.socket):
    """A real TCP socket that pauses 0.5 s before each full piece of a frame body (a slow but never stalled link)."""

    throttle = False

    def sendall(self, data, *args):
        if self.throttle and len(data) == SEND_PIECE_BYTES:
            time.sleep(0.5)
        return super().sendall(data, *args)


def test_the_reference_client_raises_upload_too_slow_for_a_slow_upload(monkeypatch):
    """A volume of 4 pieces, each 0.5 s apart, misses a 1.5 s allowance; the client tells why, not "engine died"."""
    made = []

    def create_connection(address, timeout=None, *args, **kwargs):
        sock = _ThrottledSocket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address)
        made.append(sock)
        return sock

    with serving_on_port(None, TOKEN, **LIMITS) as (engine, port):
        monkeypatch.setattr(socket, "create_connection", create_connection)
        client = EngineClient("127.0.0.1", port, TOKEN, timeout=30.0).connect()
        monkeypatch.undo()
        made[0].throttle = True
        volume = np.zeros((32, 256, 256), np.int16)  # 4 MiB: 4 pieces
        geometry = ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (256, 256, 32))
        with pytest.raises(EngineError) as caught:
            client.segment(volume, geometry)
        assert caught.value.code == "upload_too_slow", f"{type(caught.value).__name__} {caught.value.code!r}: {caught.value}"
        assert "too slowly" in caught.value.message, caught.value.message
        wait_until(lambda: engine._budget.in_use == 0, timeout=10.0, what="the budget given back")
