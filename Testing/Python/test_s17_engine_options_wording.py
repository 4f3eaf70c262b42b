"""Engine options a user can get wrong, and durations the engine reports: said as given, never rounded to 0.

``--threads -3`` used to start the engine as if no thread count was given (a negative count was
silently ignored); the idle and I/O timeouts under half a second were reported as ``0 s``.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from engine_fixtures import raw_frame, read_reply, wait_until
from SDSegLogic.server.engine import EngineOptions, EngineServer
from SDSegLogic.server.protocol import PROTOCOL_VERSION

REPO = Path(__file__).resolve().parents[2]
TOKEN = "wording-" + "w" * 32


@pytest.mark.parametrize("value", ["-3", "-1", "two", "1.5"])
def test_a_thread_count_that_is_not_a_whole_number_from_zero_is_refused(value):
    """Refused as a bad argument (exit code 2) before the model is looked at (it does not exist here)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "SDSEG_S17_TOKEN": "t" * 40}
    result = subprocess.run([sys.executable, "-m", "SDSegLogic.server", "--model", "no-such-model", "--token-env", "SDSEG_S17_TOKEN",
                             "--device", "cpu", "--threads", value], cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "--threads" in result.stderr and repr(value) in result.stderr and ">= 1" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_a_thread_count_of_zero_or_more_is_accepted():
    from SDSegLogic.server.__main__ import build_parser

    assert build_parser().parse_args(["--model", "x", "--threads", "0"]).threads == 0
    assert build_parser().parse_args(["--model", "x", "--threads", "3"]).threads == 3
    assert build_parser().parse_args(["--model", "x"]).threads == 0


def test_an_idle_timeout_under_a_second_is_logged_as_given(caplog):
    server = EngineServer(predictor=None, options=EngineOptions(token=TOKEN, idle_timeout_s=0.3))
    server.bind()
    with caplog.at_level(logging.INFO, logger="SDSegLogic.server"):
        server.serve_forever()  # returns by itself: nobody connects
    lines = [record.getMessage() for record in caplog.records if "idle timeout" in record.getMessage()]
    assert lines == ["no client for 0.3 s; exiting (idle timeout)"], lines


def test_an_io_timeout_under_a_second_is_reported_as_given(caplog):
    server = EngineServer(predictor=None, options=EngineOptions(token=TOKEN, io_timeout_s=0.4))
    server.bind()
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        with caplog.at_level(logging.WARNING, logger="SDSegLogic.server"), \
                socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
            assert read_reply(sock)["type"] == "welcome"
            sock.sendall(raw_frame({"type": "ping"}, bytes(np.zeros(64, np.uint8)))[:-10])  # the last 10 bytes never come
            reply = read_reply(sock, 30)
            assert sock.recv(1) == b""
    finally:
        server.shutdown()
        serving.join(15)
    assert reply["code"] == "io_timeout" and "for 0.4 s in the middle" in reply["message"], reply
    assert any("stopped for 0.4 s" in record.getMessage() for record in caplog.records), caplog.text


@pytest.mark.parametrize("value", ["inf", "1e10"])
def test_an_io_timeout_no_socket_takes_is_refused_at_start(value):
    """``--io-timeout inf`` used to start an engine on which every client's hello ended in ``internal_error``
    (``socket.settimeout`` overflows); it is a bad argument (exit code 2) naming the value and the largest one."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "SDSEG_S17_TOKEN": "t" * 40}
    result = subprocess.run([sys.executable, "-m", "SDSegLogic.server", "--model", "no-such-model", "--token-env", "SDSEG_S17_TOKEN",
                             "--device", "cpu", "--io-timeout", value], cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"io_timeout_s={float(value)!r}" in result.stderr and "at most" in result.stderr, result.stderr[-2000:]


def test_the_largest_io_timeout_accepted_serves_clients():
    from SDSegLogic.server.client import EngineClient
    from SDSegLogic.server.engine_options import MAX_SOCKET_TIMEOUT_S

    server = EngineServer(predictor=None, options=EngineOptions(token=TOKEN, io_timeout_s=MAX_SOCKET_TIMEOUT_S,
                                                                auth_timeout_s=MAX_SOCKET_TIMEOUT_S))
    server.bind()
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        with EngineClient("127.0.0.1", server.port, TOKEN) as client:
            assert client.ping()["type"] == "pong"
    finally:
        server.shutdown()
        serving.join(15)


def test_a_ready_timeout_under_a_second_is_reported_as_given(tmp_path):
    """``EngineProcess.start(..., ready_timeout=0.4)`` used to say the engine "was not ready after 0 s"."""
    from engine_fixtures import make_tiny_model
    from SDSegLogic.server.client import EngineDiedError, EngineProcess

    with pytest.raises(EngineDiedError) as caught:  # importing torch alone takes longer than 0.4 s
        EngineProcess.start(make_tiny_model(tmp_path / "tiny-ready"), "cpu", extra_args=["--threads", "1"], ready_timeout=0.4)
    assert "was not ready after 0.4 s and was stopped" in caught.value.message, caught.value.message


def test_a_refused_body_under_half_a_mib_is_not_said_to_be_0_mib():
    """A body refused by the request-body budget was described as "this 0 MiB request" (rounded to whole MiB)."""
    server = EngineServer(predictor=None, options=EngineOptions(token=TOKEN, max_request_bytes=1 << 20,
                                                                max_inflight_request_bytes=1 << 20))
    server.bind()
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    sockets = []
    try:
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            sockets.append(sock)
            sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
            assert read_reply(sock)["type"] == "welcome"
        holder, late = sockets
        holder.sendall(raw_frame({"type": "segment", "job_id": "holder"}, bytes(1000), declared_body=1 << 20))  # stops mid-body
        wait_until(lambda: server._budget.in_use >= 1 << 20, 30, "the holder's body is counted")
        late.sendall(raw_frame({"type": "segment", "job_id": "late"}, bytes(300_000)))
        reply = read_reply(late, 30)
    finally:
        for sock in sockets:
            sock.close()
        server.shutdown()
        serving.join(15)
    assert reply["code"] == "busy" and reply["reason"] == "receive_budget", reply
    assert "this 0.3 MiB request" in reply["message"] and "(1.0 MiB of its 1.0 MiB budget" in reply["message"], reply["message"]
