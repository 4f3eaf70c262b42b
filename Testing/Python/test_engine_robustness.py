"""The engine and its client under abuse: hostile frames, stalled, vanished or abandoning peers.

Each test here reproduces a defect an adversarial audit found (it fails on the code before the
fix) or guards a property the audit checked (no thread or memory growth per request, cancel and
shutdown semantics); the start failures it found are tested in test_engine_lifecycle.py. A real
engine process serves the tiny random-weight model of engine_fixtures.py; the tests that need a
peer a real engine never is (one that answers late, or reads slowly) use
:class:`engine_fixtures.FakeEngine`, and those that stall the engine's own sockets run it
in-process with a short ``io_timeout_s``. Every wait has a deadline; none of them is the
assertion itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine_fixtures import (FakeEngine, authenticated_socket, make_tiny_model, process_status, raw_frame, read_reply,
                             wait_until)
from SDSegLogic.errors import CancelledError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient, EngineDiedError, EngineError, EngineProcess, EngineShutdownError
from SDSegLogic.server.protocol import PROTOCOL_VERSION, geometry_to_json

TOKEN = "robust-" + "t" * 32
LINUX = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/<pid>/status")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-robust")


@pytest.fixture(scope="module")
def engine(model_folder, tmp_path_factory):
    process = EngineProcess.start(model_folder, "cpu", extra_args=["--threads", "1"],
                                  log_path=tmp_path_factory.mktemp("log") / "engine.log")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def pipeline(model_folder):
    from SDSegLogic.pipeline import SDSegPipeline

    return SDSegPipeline.from_pretrained(model_folder, device="cpu")


def _geometry(shape_kji) -> ImageGeometry:
    k, j, i = shape_kji
    return ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (i, j, k))


def _segment_frame(shape=(2, 8, 8), header_text=None, **changes) -> bytes:
    """A ``segment`` frame for a zero int16 volume; ``header_text`` edits the JSON text itself."""
    image = np.zeros(shape, np.int16)
    header = {"type": "segment", "geometry": geometry_to_json(_geometry(shape)), "options": {},
              "arrays": [{"name": "image", "dtype": "int16", "shape": list(shape), "offset": 0, "nbytes": image.nbytes}]}
    header.update(changes)
    text = json.dumps(header)
    if header_text is not None:
        text = header_text(text)
    data = text.encode()
    return struct.pack("<4sIQ", b"SDSG", len(data), image.nbytes) + data + image.tobytes()


def _json_frame(text: bytes) -> bytes:
    return struct.pack("<4sIQ", b"SDSG", len(text), 0) + text


def _idle(engine) -> bool:
    with engine.client() as client:
        return not client.ping()["busy"]


def _long_job(client):
    """Start a 400-slice job in a thread; returns (thread, event set at the first progress, results)."""
    started, results = threading.Event(), {}

    def run():
        volume = np.zeros((400, 32, 32), np.int16)
        try:
            results["output"] = client.segment(volume, _geometry(volume.shape), batch_size=1, on_progress=lambda e: started.set())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            results["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    return worker, started, results


def _in_process_server(pipeline, **options):
    from SDSegLogic.server.engine import EngineOptions, EngineServer

    server = EngineServer(pipeline, EngineOptions(token=TOKEN, **options))
    port = server.bind()
    server.serving = threading.Thread(target=server.serve_forever, daemon=True)  # for the test to join
    server.serving.start()
    return server, port


def _send_and_stop_reading(server, port: int, shape=(8, 512, 512)) -> socket.socket:
    """Ask for a result of ~10 MB (labels + probabilities) with a tiny receive buffer; read up to
    the last progress event, then stop reading once the job has ended (its result is being sent)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
    assert read_reply(sock)["type"] == "welcome"
    sock.sendall(_segment_frame(shape, options={"want_probabilities": True}))
    event = {}
    while not (event.get("type") == "progress" and event["done"] == event["total"]):
        event = read_reply(sock, 60)
        assert event["type"] in ("accepted", "progress"), event
    wait_until(lambda: server._job is None, 60, "the job ends")  # the slot is freed just before the result goes out
    return sock


# ---------------------------------------------------------------------- hostile frames
HOSTILE = [
    # name, frame, authenticated first, expected code
    ("JSON nested 2000 deep in hello", _json_frame(b"[" * 2000 + b"]" * 2000), False, "malformed_header"),
    ("token that UTF-8 cannot encode", _json_frame(b'{"type":"hello","protocol":1,"token":"\\ud800"}'), False, "bad_token"),
    ("NaN that a cancel_ack would echo", _json_frame(b'{"type":"cancel","job_id":NaN}'), True, "malformed_header"),
    ("integer of 5000 digits", _json_frame(b'{"type":"ping","n":' + b"9" * 5000 + b"}"), True, "malformed_header"),
    ("Infinity in an array shape", _segment_frame(header_text=lambda t: t.replace('"shape": [2, 8, 8], "off',
                                                                                 '"shape": [Infinity, 8, 8], "off')),
     True, "malformed_header"),
    ("array shape overflowing int64", _segment_frame(arrays=[{"name": "image", "dtype": "int16", "shape": [2**32, 2**32, 1],
                                                             "offset": 0, "nbytes": 0}]), True, "bad_shape"),
    ("array shape beyond int64", _segment_frame(arrays=[{"name": "image", "dtype": "int16", "shape": [2**70, 1, 1],
                                                        "offset": 0, "nbytes": 256}]), True, "bad_shape"),
    ("array of 70 dimensions", _segment_frame(arrays=[{"name": "image", "dtype": "int16", "shape": [1] * 70,
                                                      "offset": 0, "nbytes": 2}]), True, "bad_shape"),
    ("1e400 voxels in the geometry", _segment_frame(header_text=lambda t: t.replace('"shape": [8, 8, 2]}', '"shape": [8, 8, 1e400]}')),
     True, "geometry_error"),
    ("fractional voxel count", _segment_frame(header_text=lambda t: t.replace('"shape": [8, 8, 2]}', '"shape": [8, 8, 2.5]}')),
     True, "geometry_error"),
]


@pytest.mark.parametrize("name, frame, authenticated, code", HOSTILE, ids=[case[0] for case in HOSTILE])
def test_hostile_frames_get_a_clear_error_and_never_kill_a_connection_thread(engine, name, frame, authenticated, code):
    """These used to end the connection thread with an uncaught exception: no reply, a traceback in the log."""
    sock = authenticated_socket(engine) if authenticated else socket.create_connection((engine.host, engine.port), timeout=5)
    with sock:
        sock.sendall(frame)
        reply = read_reply(sock, 10)
        assert reply["type"] == "error" and reply["code"] == code, reply
        if authenticated:  # the stream is still in step: the connection keeps working
            sock.sendall(raw_frame({"type": "ping"}))
            assert read_reply(sock, 10)["type"] == "pong"
    log = engine.log_path.read_text()
    assert "Exception in thread" not in log and "Traceback" not in log, log[-3000:]


@LINUX
def test_a_declared_body_is_not_allocated_before_it_arrives(engine):
    """An authenticated peer could declare 4 GiB per connection (8 connections) and send nothing."""
    before = process_status(engine.pid)["VmRSS"]
    with authenticated_socket(engine) as sock:
        sock.sendall(raw_frame({"type": "segment"}, declared_body=256 << 20))  # 256 MiB announced, none sent
        grown, deadline = 0, time.monotonic() + 1.5
        while time.monotonic() < deadline:
            grown = max(grown, process_status(engine.pid)["VmRSS"] - before)
            time.sleep(0.05)
    assert grown < 64 << 10, f"the engine's memory grew by {grown >> 10} MiB for a body it never received"
    assert _idle(engine)


# ---------------------------------------------------------------------- the client after a failure
def test_a_failing_progress_callback_never_leaks_the_old_result_into_the_next_call(engine):
    """The old client left the abandoned job's frames on the socket; the next segment() returned its result."""
    client = engine.client()
    first = np.zeros((40, 16, 16), np.int16)

    def broken_callback(event):
        raise RuntimeError("the GUI callback failed")

    with pytest.raises(RuntimeError, match="GUI callback"):
        client.segment(first, _geometry(first.shape), batch_size=1, on_progress=broken_callback)
    wait_until(lambda: _idle(engine), what="the abandoned job ends")
    second = np.zeros((3, 8, 8), np.int16)
    out = client.segment(second, _geometry(second.shape))
    assert out.labels.shape == second.shape
    client.close()


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
def test_an_engine_that_stops_answering_mid_job_is_reported_not_waited_for(engine):
    """A hung engine (or a remote one whose network vanished) used to block segment() for ever."""
    client = EngineClient(engine.host, engine.port, engine.token, timeout=2.0)  # no process: as for a remote engine
    client.heartbeat_s = 0.5
    worker, started, results = _long_job(client)
    assert started.wait(60), "no progress event"
    os.kill(engine.pid, signal.SIGSTOP)
    try:
        worker.join(30)
        assert not worker.is_alive(), "segment() still blocked 30 s after the engine stopped"
    finally:
        os.kill(engine.pid, signal.SIGCONT)
    error = results.get("error")
    assert isinstance(error, EngineDiedError) and "did not answer a ping" in str(error), error
    wait_until(lambda: _idle(engine), what="the engine cancels the abandoned job")


def test_a_timed_out_reply_never_answers_the_next_request():
    release = threading.Event()

    def answer(index, header, sock):
        if header["type"] == "ping":
            release.wait(10)
            return {"type": "pong", "busy": False}
        if header["type"] == "info":
            return {"type": "info", "connection": index}
        return None

    fake = FakeEngine(answer)
    try:
        client = EngineClient("127.0.0.1", fake.port, TOKEN, timeout=0.5).connect()
        with pytest.raises(EngineError) as caught:
            client.ping()
        assert caught.value.code == "timeout" and "0.5 s" in caught.value.message
        release.set()  # the late pong arrives now; the old client read it as the answer to info
        assert client.info()["type"] == "info"
        client.close()
    finally:
        fake.close()


def test_connect_after_an_unanswered_hello_starts_over():
    def answer(index, header, sock):
        if index == 0:
            return "silent"  # the first connection's hello is never answered
        return {"type": "pong", "busy": False} if header["type"] == "ping" else None

    fake = FakeEngine(answer)
    try:
        client = EngineClient("127.0.0.1", fake.port, TOKEN, timeout=0.5)
        with pytest.raises(EngineError) as caught:
            client.connect()
        assert caught.value.code == "timeout"
        client.connect()  # the old client kept the half-open socket and returned without a hello
        assert client.welcome.get("engine_version") == "fake" and client.ping()["type"] == "pong"
        client.close()
    finally:
        fake.close()


def test_a_slow_but_steady_upload_is_not_cut_off_by_the_client_timeout():
    """sendall's timeout covers the whole call: the old client gave a 24 MiB upload 1 s in all."""

    def answer(index, header, sock):
        if header["type"] != "segment":
            return None
        got = 0
        while got < header["_body"]:  # read at about 6 MB/s
            chunk = sock.recv(min(128 << 10, header["_body"] - got))
            if not chunk:
                return None
            got += len(chunk)
            time.sleep(0.02)
        return {"type": "error", "job_id": header["job_id"], "code": "fake_received", "message": f"{got} bytes"}

    fake = FakeEngine(answer)
    volume = np.zeros((96, 512, 256), np.int16)
    try:
        with EngineClient("127.0.0.1", fake.port, TOKEN, timeout=1.0) as client:
            with pytest.raises(EngineError) as caught:
                client.segment(volume, _geometry(volume.shape))
        assert caught.value.code == "fake_received" and caught.value.message == f"{volume.nbytes} bytes", caught.value
    finally:
        fake.close()


# ---------------------------------------------------------------------- stalled peers (in-process engine)
def test_shutdown_returns_while_a_client_is_not_reading_its_result(pipeline):
    """The old close() waited for the send lock, held by a sendall blocked on the peer: shutdown hung for ever."""
    server, port = _in_process_server(pipeline)
    sock = _send_and_stop_reading(server, port)
    try:
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(15)
        assert not stopper.is_alive(), "shutdown() blocked behind a client that does not read"
    finally:
        sock.close()
        server.shutdown()


def test_a_client_that_stops_reading_is_dropped(pipeline):
    server, port = _in_process_server(pipeline, io_timeout_s=1.0)
    sock = _send_and_stop_reading(server, port)
    try:
        wait_until(lambda: not server._connections, 30, "the engine drops the client that stopped reading")
        with EngineClient("127.0.0.1", port, TOKEN) as other:
            assert other.ping() == {"type": "pong", "busy": False}
    finally:
        sock.close()
        server.shutdown()


def test_a_request_that_stalls_in_the_middle_of_a_frame_is_dropped(pipeline):
    server, port = _in_process_server(pipeline, io_timeout_s=1.0)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
            assert read_reply(sock)["type"] == "welcome"
            sock.sendall(_segment_frame((2, 8, 8))[:-100])  # the last 100 body bytes never come
            reply = read_reply(sock, 30)
            assert reply["code"] == "io_timeout" and "1 s" in reply["message"], reply
            assert sock.recv(1) == b""
    finally:
        server.shutdown()


# ---------------------------------------------------------------------- guards: cancel, shutdown, leaks
def test_cancel_before_during_twice_from_another_connection_and_after(engine):
    with authenticated_socket(engine) as other:
        other.sendall(raw_frame({"type": "cancel"}))
        assert read_reply(other) == {"type": "cancel_ack", "job_id": None, "was_running": False}
        client = engine.client()
        worker, started, results = _long_job(client)
        assert started.wait(60)
        other.sendall(raw_frame({"type": "cancel"}) + raw_frame({"type": "cancel"}))
        assert read_reply(other)["was_running"] is True and read_reply(other)["type"] == "cancel_ack"
        worker.join(30)
        assert isinstance(results.get("error"), CancelledError), results
        other.sendall(raw_frame({"type": "cancel", "job_id": "done-long-ago"}))
        assert read_reply(other)["was_running"] is False
        client.close()


def _abandon(event) -> None:
    raise RuntimeError("the caller gives up")


@LINUX
def test_thirty_requests_with_abandoned_ones_leave_threads_and_memory_flat(engine):
    volume = np.zeros((6, 48, 48), np.int16)

    def request(kind: int) -> None:
        if kind == 0:
            with engine.client() as client:
                assert client.segment(volume, _geometry(volume.shape), want_probabilities=True).labels.shape == volume.shape
        elif kind == 1:  # disconnects in the middle of the upload
            with authenticated_socket(engine) as sock:
                sock.sendall(_segment_frame(volume.shape)[:3000])
        else:  # disconnects while progress events are being sent
            client = engine.client()
            with pytest.raises(RuntimeError):
                client.segment(volume, _geometry(volume.shape), batch_size=1, on_progress=_abandon)
            client.close()
        wait_until(lambda: _idle(engine), what="the engine is idle again")

    for kind in range(3):
        request(kind)
    base = process_status(engine.pid)
    for n in range(30):
        request(n % 3)
    wait_until(lambda: process_status(engine.pid)["Threads"] <= base["Threads"], 20, "connection threads end")
    grown = process_status(engine.pid)["VmRSS"] - base["VmRSS"]
    assert grown < 48 << 10, f"engine memory grew by {grown >> 10} MiB over 30 requests"


def test_shutdown_during_a_job_stops_the_job_and_the_server(pipeline):
    """A ``shutdown`` from a second client while a job runs: the job stops, serve_forever() returns
    (``python -m SDSegLogic.server`` then exits 0; test_engine_lifecycle.py checks the process)."""
    server, port = _in_process_server(pipeline)
    serving = server.serving
    worker, started, results = _long_job(EngineClient("127.0.0.1", port, TOKEN).connect())
    try:
        assert started.wait(60)
        job_thread = server._job.thread
        EngineClient("127.0.0.1", port, TOKEN).connect().shutdown()
        worker.join(30)
        serving.join(30)
        job_thread.join(30)
        # the job's client is told the engine shut down (test_engine_shutdown_mid_job.py), not that it cancelled
        assert isinstance(results.get("error"), EngineShutdownError), results
        assert not serving.is_alive() and not job_thread.is_alive()
    finally:
        server.shutdown()
