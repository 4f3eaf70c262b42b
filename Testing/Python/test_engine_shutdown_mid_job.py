"""A job stopped by the engine's shutdown ends with ``error engine_shutdown``, not ``cancelled``.

PROTOCOL.md, "Shutdown during a job": the client of a job the engine's shutdown stopped (a
``shutdown`` request from another client, SIGTERM to the engine process, the embedding program's
``shutdown()``) gets :class:`EngineShutdownError` with ``reason``, and the Slicer runner an ``error``
event that says the engine was stopped; a user's own cancel still raises ``CancelledError``. Before
the fix both ended as a plain ``cancelled`` (or, when the connection closed before the job's last
frame went out, a broken connection), and SIGTERM killed the engine outright.

Real engines serve the tiny random-weight model of engine_fixtures.py: engine processes for the
request, the signal and the Slicer runner, in-process servers (to call ``shutdown()`` and to look
at the frames) whose real pipeline holds the job after its first slice until it is asked to stop,
so the shutdown always reaches a running job. New names are checked by value (``code``, the
class name, the panel text), so the file runs against the code before the fix and fails there
on behaviour, not on an import.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine_fixtures import make_tiny_model, raw_frame, read_reply, wait_until
from SDSegLogic.errors import CancelledError, SDSegError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient, EngineError, EngineProcess
from SDSegLogic.server.protocol import PROTOCOL_VERSION, geometry_to_json, send_frame

TOKEN = "shutdown-" + "t" * 32
ENGINE_STOPPED_TEXT = "The engine was stopped while segmenting; nothing was written. Run Segment again."
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM handling is POSIX only")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-shutdown")


@pytest.fixture(scope="module")
def pipeline(model_folder):
    from SDSegLogic.pipeline import SDSegPipeline

    return SDSegPipeline.from_pretrained(model_folder, device="cpu")


@pytest.fixture
def engine(model_folder, tmp_path):
    """An engine process of its own: these tests end it."""
    process = EngineProcess.start(model_folder, "cpu", extra_args=["--threads", "1"], log_path=tmp_path / "engine.log")
    yield process
    process.stop()


def _geometry(shape_kji) -> ImageGeometry:
    k, j, i = shape_kji
    return ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (i, j, k))


def _job_in_thread(client: EngineClient, slices: int, **options):
    """Segment ``slices`` 32x32 slices one per batch in a thread; returns (thread, event set at the first progress, results)."""
    started, results = threading.Event(), {}

    def run() -> None:
        volume = np.zeros((slices, 32, 32), np.int16)
        try:
            results["output"] = client.segment(volume, _geometry(volume.shape), batch_size=1,
                                               on_progress=lambda event: started.set(), **options)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            results["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    return worker, started, results


def _held_segment(*args, progress, should_cancel, **kwargs):
    """The real ``segment_array``, holding the job after each batch until it is asked to stop (60 s at most)."""
    from SDSegLogic.segment import segment_array

    def hold(done: int, total: int) -> None:
        progress(done, total)
        wait_until(should_cancel, 60, "the test stops the held job")

    return segment_array(*args, progress=hold, should_cancel=should_cancel, **kwargs)


def _in_process_server(pipeline):
    from SDSegLogic.server.engine import EngineOptions, EngineServer

    server = EngineServer(pipeline, EngineOptions(token=TOKEN), segment_fn=_held_segment)
    port = server.bind()
    server.serving = threading.Thread(target=server.serve_forever, daemon=True)  # for the test to join
    server.serving.start()
    return server, port


def _assert_engine_shutdown(results, reason: str) -> None:
    error = results.get("error")
    assert not isinstance(error, CancelledError), f"the engine's shutdown was reported as the user's cancel: {error!r}"
    assert isinstance(error, EngineError) and type(error).__name__ == "EngineShutdownError", results
    assert error.code == "engine_shutdown" and error.reason == reason, (error.code, getattr(error, "reason", None))
    assert "shut down while segmenting" in error.message and "Start the engine again" in error.message, error.message


# ---------------------------------------------------------------------- the engine's shutdown: a distinct outcome
def test_a_shutdown_request_from_another_client_ends_the_job_with_engine_shutdown(engine):
    worker, started, results = _job_in_thread(engine.client(), 3000)
    assert started.wait(60), results
    engine.client().shutdown()
    worker.join(30)
    assert not worker.is_alive()
    _assert_engine_shutdown(results, "request")
    assert engine.wait(30) == 0


@POSIX
def test_sigterm_to_the_engine_process_ends_the_job_with_engine_shutdown(engine):
    worker, started, results = _job_in_thread(engine.client(), 3000)
    assert started.wait(60), results
    os.kill(engine.pid, signal.SIGTERM)
    worker.join(30)
    assert not worker.is_alive()
    _assert_engine_shutdown(results, "signal")
    assert engine.wait(30) == 0, engine.log_tail()  # a graceful exit, not death by the signal (-15)


def _raw_job_held_after_one_slice(port: int, job_id: str) -> socket.socket:
    """A raw socket, authenticated, whose 2-slice job was accepted and reported its first slice (then it is held)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
    assert read_reply(sock)["type"] == "welcome"
    image = np.zeros((2, 32, 32), np.int16)
    send_frame(sock, {"type": "segment", "job_id": job_id, "geometry": geometry_to_json(_geometry(image.shape)),
                      "options": {"batch_size": 1}}, {"image": image})
    assert [read_reply(sock, 60)["type"] for _ in range(2)] == ["accepted", "progress"]
    return sock


def test_in_process_shutdown_sends_an_engine_shutdown_error_frame_before_closing(pipeline):
    """On the wire: an ``error`` frame with the job's id (which every client ends the job on), then the end of the stream."""
    server, port = _in_process_server(pipeline)
    try:
        with _raw_job_held_after_one_slice(port, "job-7") as sock:
            threading.Thread(target=server.shutdown, daemon=True).start()
            last = read_reply(sock, 30)
            assert last["type"] == "error" and last["job_id"] == "job-7", last
            assert last["code"] == "engine_shutdown" and last["reason"] == "stopped", last
            assert "the program running it stopped it" in last["message"] and "run the segmentation again" in last["message"]
            assert sock.recv(1) == b""
        server.serving.join(30)
        assert not server.serving.is_alive()
    finally:
        server.shutdown()


def test_stop_as_the_sigterm_handler_calls_it_ends_the_job_with_engine_shutdown(pipeline):
    server, port = _in_process_server(pipeline)
    try:
        worker, started, results = _job_in_thread(EngineClient("127.0.0.1", port, TOKEN).connect(), 2)
        assert started.wait(60), results
        server.stop("signal")  # what the engine's SIGTERM/Ctrl-C handler does; serve_forever() then shuts down
        worker.join(30)
        server.serving.join(30)
        assert not worker.is_alive() and not server.serving.is_alive()
        _assert_engine_shutdown(results, "signal")
    finally:
        server.shutdown()


def test_an_unknown_shutdown_reason_is_refused_naming_the_known_ones(pipeline):
    from SDSegLogic.server.engine import EngineOptions, EngineServer

    server = EngineServer(pipeline, EngineOptions(token=TOKEN))
    with pytest.raises(SDSegError, match=r"reason 'tired' is unknown; use one of request, signal, .*stopped"):
        server.stop("tired")
    with pytest.raises(SDSegError, match="reason 'tired' is unknown"):
        server.shutdown("tired")


# ---------------------------------------------------------------------- a user's own cancel: unchanged
@pytest.mark.parametrize("how", ["should_cancel", "cancel() from another thread"])
def test_a_users_own_cancel_still_raises_cancelled_error(pipeline, how):
    server, port = _in_process_server(pipeline)
    try:
        client = EngineClient("127.0.0.1", port, TOKEN).connect()
        asked = threading.Event()
        options = {"should_cancel": asked.is_set} if how == "should_cancel" else {}
        worker, started, results = _job_in_thread(client, 2, **options)
        assert started.wait(60), results
        if how == "should_cancel":
            asked.set()
        else:
            client.cancel()
        worker.join(30)
        assert not worker.is_alive()
        error = results.get("error")
        assert isinstance(error, CancelledError) and not isinstance(error, EngineError), results
        assert str(error) == "segmentation cancelled; nothing was written."
        with EngineClient("127.0.0.1", port, TOKEN) as other:
            assert other.ping() == {"type": "pong", "busy": False}  # the engine keeps serving
        client.close()
    finally:
        server.shutdown()


def test_a_cancel_that_reached_the_job_before_the_shutdown_still_ends_it_cancelled(pipeline):
    server, port = _in_process_server(pipeline)
    try:
        with _raw_job_held_after_one_slice(port, "job-8") as sock:
            sock.sendall(raw_frame({"type": "cancel", "job_id": "job-8"}))
            frames = []
            while not any(frame["type"] == "cancel_ack" for frame in frames):  # sent once the job holds the cancel
                frames.append(read_reply(sock, 30))
            server.shutdown()  # the user's cancel came first: it decides how the job ends
            while not any(frame["type"] in ("cancelled", "error") for frame in frames):
                frames.append(read_reply(sock, 30))
            assert {"type": "cancelled", "job_id": "job-8"} in frames, frames
    finally:
        server.shutdown()


# ---------------------------------------------------------------------- the Slicer module's runner
def test_slicer_job_reports_the_engine_stopped_not_cancelled_and_the_next_segment_starts_a_new_engine(model_folder):
    import slicer_logic_helpers  # noqa: F401 - puts SDSegLib on sys.path
    from SDSegLib.engine_runner import EngineManager, SegmentationJob

    manager = EngineManager(log=lambda line: None, extra_args=("--threads", "1"))
    try:
        volume = np.zeros((3000, 32, 32), np.int16)
        job = SegmentationJob(manager, volume, _geometry(volume.shape), str(model_folder), "cpu", batch_size=1).start()
        events, deadline = [], time.monotonic() + 60
        while not any(e.kind == "progress" for e in events) and time.monotonic() < deadline:
            events += job.poll()
            time.sleep(0.02)
        first = manager.process
        first.client().shutdown()  # another client stops the engine under the job
        events += job.wait(60)
        last = events[-1]
        assert last.kind == "error" and last.data["code"] == "engine_shutdown", (last.kind, last.text)
        assert last.text.splitlines()[0] == ENGINE_STOPPED_TEXT and "a client sent it a 'shutdown' request" in last.text
        assert not any(e.kind == "cancelled" for e in events)
        assert first.poll() == 0  # waited for: the next Segment finds it exited
        small = np.zeros((1, 32, 32), np.int16)
        again = SegmentationJob(manager, small, _geometry(small.shape), str(model_folder), "cpu").start().wait(120)
        assert again[-1].kind == "done", again[-1].text
        assert manager.process.pid != first.pid
    finally:
        manager.stop()


def test_a_batch_longer_than_the_shutdown_wait_still_gets_its_engine_shutdown_frame(pipeline, monkeypatch):
    """A batch that outlasts ``SHUTDOWN_JOIN_S`` (the paper model on a CPU): the shutdown sends the frame itself.
    Before, the connection closed first and the client reported a lost connection (``engine_died``)."""
    from SDSegLogic.segment import segment_array
    from SDSegLogic.server import engine as engine_module
    from SDSegLogic.server.engine import EngineOptions, EngineServer

    monkeypatch.setattr(engine_module, "SHUTDOWN_JOIN_S", 0.3)
    long_batch = threading.Event()

    def slow(*args, progress, should_cancel, **kwargs):
        def busy_batch(done: int, total: int) -> None:
            progress(done, total)
            long_batch.wait(10)  # a batch that does not look at the cancel

        return segment_array(*args, progress=busy_batch, should_cancel=should_cancel, **kwargs)

    server = EngineServer(pipeline, EngineOptions(token=TOKEN), segment_fn=slow)
    port = server.bind()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        worker, started, results = _job_in_thread(EngineClient("127.0.0.1", port, TOKEN).connect(), 2)
        assert started.wait(60), results
        began = time.monotonic()
        server.shutdown("request")
        assert time.monotonic() - began < 5.0  # 0.3 s for the job, at most 1 s for the frame, then the sockets
        worker.join(10)
        _assert_engine_shutdown(results, "request")
    finally:
        long_batch.set()
        server.shutdown()
