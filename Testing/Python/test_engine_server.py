"""End-to-end tests of the engine process and its protocol (real subprocess, real tiny model).

Every test talks to ``python -m SDSegLogic.server`` over loopback with the pure-Python client or
with hand-made frames; the in-process servers are the out-of-memory test, which wraps the real
pipeline in a predictor that raises ``torch.cuda.OutOfMemoryError`` (a GPU cannot be made to run
out of memory on a CPU-only CI machine), and the job-slot test, which watches the frames sent.
Lifecycle and safety (shutdown, parent exit, binding, token files, idle timeout) are in
test_engine_lifecycle.py.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine_fixtures import authenticated_socket, make_tiny_model, raw_frame, read_reply
from SDSegLogic.errors import CancelledError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient, EngineDiedError, EngineError, EngineProcess
from SDSegLogic.server.protocol import PROTOCOL_VERSION, geometry_to_json

REPO = Path(__file__).resolve().parents[2]
LIMIT = 8 << 20  # max request bytes of the shared engine


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-test")


@pytest.fixture(scope="module")
def engine(model_folder):
    process = EngineProcess.start(model_folder, "cpu", extra_args=["--threads", "1", "--max-request-bytes", str(LIMIT)])
    yield process
    process.stop()


def _geometry(shape_kji, oblique: bool = True) -> ImageGeometry:
    k, j, i = shape_kji
    c, s = np.cos(0.3), np.sin(0.3)
    direction = np.array([[c, -s, 0], [s, c, 0], [0, 0, -1.0]]) if oblique else np.eye(3)
    return ImageGeometry((0.7, 0.8, 2.5), (-12.5, 30.25, 101.0), direction, (i, j, k))


def _volume(shape_kji, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(40, 150, shape_kji).astype(np.int16)


# ---------------------------------------------------------------------- start, auth, info
def test_ready_line_token_file_private_and_not_in_argv(engine):
    assert engine.ready["event"] == "ready" and engine.ready["host"] == "127.0.0.1" and engine.port > 0
    timings = engine.ready["startup_timings"]
    assert set(timings) == {"import_s", "load_s", "compile_s", "warmup_s"} and all(v >= 0 for v in timings.values())
    token_file = engine.token_dir / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    cmdline = Path(f"/proc/{engine.pid}/cmdline").read_bytes().decode() if Path("/proc").is_dir() else ""
    assert engine.token not in cmdline
    with pytest.raises(OSError):  # loopback only: not reachable on another local address
        socket.create_connection((_non_loopback_address(), engine.port), timeout=1).close()


def _non_loopback_address() -> str:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: only picks the outgoing interface
        address = probe.getsockname()[0]
    except OSError:
        address = "0.0.0.0"
    finally:
        probe.close()
    if address.startswith("127."):
        pytest.skip("no non-loopback interface on this machine")
    return address


def test_good_token_gets_info(engine):
    with engine.client() as client:
        assert client.welcome["protocol"] == PROTOCOL_VERSION
        info = client.info()
    assert info["model_card"]["model_id"] == "tiny-test"
    assert info["model_card"]["classes"][0]["name"] == "liver"
    assert info["device"] == "cpu" and info["limits"]["max_request_bytes"] == LIMIT
    assert info["busy"] is False and info["pid"] == engine.pid
    assert info["dtype"] == info["unet_dtype"] == "float32" and info["compiled"] is False  # CPU: eager fp32


def test_bad_token_rejected_and_engine_keeps_serving(engine):
    with pytest.raises(EngineError) as caught:
        EngineClient(engine.host, engine.port, engine.token[:-1] + ("A" if engine.token[-1] != "A" else "B")).connect()
    assert caught.value.code == "bad_token"
    with pytest.raises(EngineError) as caught:
        EngineClient(engine.host, engine.port, "").connect()
    assert caught.value.code == "bad_token"
    assert engine.client().ping()["type"] == "pong"


def test_first_message_must_be_hello(engine):
    with socket.create_connection((engine.host, engine.port), timeout=5) as sock:
        sock.sendall(raw_frame({"type": "info"}))
        reply = read_reply(sock)
        assert reply["code"] == "unauthenticated"
        assert sock.recv(1) == b""  # closed


def test_http_request_is_not_a_frame(engine):
    with socket.create_connection((engine.host, engine.port), timeout=5) as sock:
        sock.sendall(b"POST /segment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        assert read_reply(sock)["code"] == "bad_magic"


# ---------------------------------------------------------------------- segmentation
@pytest.mark.filterwarnings("ignore:.*oblique")
def test_segment_streams_progress_and_returns_labels_on_input_grid(engine, model_folder):
    volume, geometry = _volume((5, 20, 24)), _geometry((5, 20, 24))
    events = []
    with engine.client() as client:
        out = client.segment(volume, geometry, batch_size=2, seed=3, want_probabilities=True, on_progress=events.append)
    assert out.labels.shape == (5, 20, 24) and out.labels.dtype == np.uint8
    assert set(np.unique(out.labels)) <= {0, 1}
    assert out.geometry == geometry  # copied, not recomputed
    assert out.probabilities.shape == (5, 20, 24) and out.variance is None
    assert [e["done"] for e in events] == sorted(e["done"] for e in events) and events[-1]["done"] == events[-1]["total"] == 5
    assert out.header["model_id"] == "tiny-test" and out.header["options"]["seed"] == 3
    # the server adds nothing: same labels as the engine library called directly with the same seed
    from SDSegLogic.pipeline import SDSegPipeline
    from SDSegLogic.segment import segment_array

    direct = segment_array(volume, geometry, SDSegPipeline.from_pretrained(model_folder, device="cpu"), batch_size=2, seed=3)
    np.testing.assert_array_equal(out.labels, direct.labels)


def test_result_carries_the_quality_warnings(engine):
    """The engine's warnings reach the client: an oblique grid warns, an axis-aligned one does not."""
    volume = _volume((3, 16, 16))
    with engine.client() as client:
        tilted = client.segment(volume, _geometry(volume.shape, oblique=True))
        straight = client.segment(volume, _geometry(volume.shape, oblique=False))
    assert any("oblique by 17.2 degrees" in w for w in tilted.warnings), tilted.warnings
    assert tilted.header["warnings"] == list(tilted.warnings)
    assert not any("oblique" in w for w in straight.warnings) and isinstance(straight.warnings, tuple)


def test_modality_reaches_the_plan_and_a_photo_for_a_ct_model_warns(engine):
    """The request's modality is checked against the card (the tiny model is a CT model)."""
    photo = np.random.default_rng(4).integers(0, 256, (1, 16, 16, 3)).astype(np.uint8)  # a colour picture
    geometry = _geometry(photo.shape[:3], oblique=False)
    with engine.client() as client:
        told = client.segment(photo, geometry, modality="photo")
        untold = client.segment(photo, geometry)
        ct = client.segment(_volume((2, 16, 16)), _geometry((2, 16, 16), oblique=False), modality="CT")
    mismatch = "trained on CT images but the input is a 2-D picture"
    assert any(mismatch in w for w in told.warnings), told.warnings
    assert told.header["options"]["modality"] == "photo"
    assert not any(mismatch in w for w in untold.warnings) and untold.header["options"]["modality"] == ""
    assert not any("trained on" in w for w in ct.warnings)
    image = _volume((1, 8, 8))
    for modality, why in ((7, "must be a string"), ("X" * 17, "at most 16 characters")):
        header = {"type": "segment", "geometry": geometry_to_json(_geometry((1, 8, 8))), "options": {"modality": modality},
                  "arrays": [{"name": "image", "dtype": "int16", "shape": [1, 8, 8], "offset": 0, "nbytes": image.nbytes}]}
        with authenticated_socket(engine) as sock:
            sock.sendall(raw_frame(header, image.tobytes()))
            reply = read_reply(sock)
        assert reply["code"] == "input_error" and why in reply["message"], reply


def test_slice_range_and_variance(engine):
    volume, geometry = _volume((6, 16, 16)), _geometry((6, 16, 16), oblique=False)
    events = []
    with engine.client() as client:
        out = client.segment(volume, geometry, slices=(2, 4), num_samples=2, want_variance=True, on_progress=events.append)
    assert events[-1]["total"] == 2
    assert not out.labels[:2].any() and not out.labels[4:].any()
    assert out.variance is not None and out.variance.shape == (6, 16, 16) and (out.variance >= 0).all()


def test_slice_range_counts_along_the_model_s_slicing_axis(engine):
    """A sagittal-stored volume and an axial model: the range is along j, which has more slices than k."""
    sagittal = np.array([[0, 0, 1.0], [-1.0, 0, 0], [0, -1.0, 0]])  # LPS columns: i -> A, j -> I, k -> L
    volume = _volume((4, 6, 10))
    geometry = ImageGeometry((0.9, 0.9, 0.9), (0.0, 0.0, 0.0), sagittal, (10, 6, 4))
    with engine.client() as client:
        out = client.segment(volume, geometry, slices=(3, 6))  # valid along j (6 slices), past k's 4
        with pytest.raises(EngineError) as caught:
            client.segment(volume, geometry, slices=(7, 9))  # nothing along j
    assert out.header["options"]["slices"] == [3, 6] and not out.labels[:, :3].any()
    assert caught.value.code == "input_error" and "indices 0..5" in caught.value.message


@pytest.mark.parametrize(
    "mutate, code",
    [
        (lambda h: h["arrays"][0].update(dtype="complex64"), "bad_dtype"),
        (lambda h: h["arrays"][0].update(nbytes=h["arrays"][0]["nbytes"] - 2), "bad_shape"),
        (lambda h: h["geometry"].update(shape=[4, 4, 4]), "geometry_error"),
        (lambda h: h["options"].update(steps=3), "input_error"),
        (lambda h: h["options"].update(num_samples=0), "input_error"),
        (lambda h: h["options"].update(slices=[3, 2]), "input_error"),
        (lambda h: h["options"].update(slices=[0, 999]), "input_error"),
        (lambda h: h.update(arrays=[{**h["arrays"][0], "name": "volume"}]), "input_error"),
    ],
)
def test_malformed_segment_requests_get_clear_errors(engine, mutate, code):
    image = _volume((2, 8, 8))
    header = {"type": "segment", "geometry": geometry_to_json(_geometry((2, 8, 8))), "options": {},
              "arrays": [{"name": "image", "dtype": "int16", "shape": [2, 8, 8], "offset": 0, "nbytes": image.nbytes}]}
    mutate(header)
    with authenticated_socket(engine) as sock:
        sock.sendall(raw_frame(header, image.tobytes()))
        reply = read_reply(sock)
        assert reply["type"] == "error" and reply["code"] == code, reply
        assert len(reply["message"]) > 20
        sock.sendall(raw_frame({"type": "ping"}))  # the connection is still usable
        assert read_reply(sock)["type"] == "pong"


def test_invalid_json_header_is_rejected(engine):
    with authenticated_socket(engine) as sock:
        sock.sendall(b"SDSG" + (5).to_bytes(4, "little") + (0).to_bytes(8, "little") + b"{nope")
        assert read_reply(sock)["code"] == "malformed_header"


def test_oversized_request_rejected_from_the_header_alone(engine):
    with authenticated_socket(engine) as sock:
        started = time.monotonic()
        sock.sendall(raw_frame({"type": "segment"}, declared_body=10 << 30))  # 10 GiB announced, none sent
        reply = read_reply(sock)
        assert reply["code"] == "request_too_large" and time.monotonic() - started < 2.0
    with engine.client() as client:  # the client checks the advertised limit before sending
        big = np.zeros((160, 128, 128), np.float32)  # 10 MiB > 8 MiB
        with pytest.raises(EngineError) as caught:
            client.segment(big, _geometry(big.shape))
        assert caught.value.code == "request_too_large"


# ---------------------------------------------------------------------- cancel, busy, crash
def _long_job(client, results, **kwargs):
    volume = _volume((400, 32, 32))
    try:
        results["output"] = client.segment(volume, _geometry(volume.shape), batch_size=1, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread
        results["error"] = exc
        results["ended"] = time.monotonic()


def test_cancel_mid_run_stops_within_one_second_and_leaves_nothing(engine):
    client = engine.client()
    started, results = threading.Event(), {}
    worker = threading.Thread(target=_long_job, args=(client, results), kwargs={"on_progress": lambda e: started.set()})
    worker.start()
    assert started.wait(60), "no progress event"
    cancelled_at = time.monotonic()
    client.cancel()
    worker.join(10)
    assert isinstance(results.get("error"), CancelledError) and "output" not in results
    assert results["ended"] - cancelled_at < 1.0
    assert client.info()["busy"] is False  # and the engine takes the next job
    out = client.segment(_volume((1, 8, 8)), _geometry((1, 8, 8)))
    assert out.labels.shape == (1, 8, 8)
    client.close()


def test_one_job_at_a_time_and_cancel_from_another_connection(engine):
    first, second = engine.client(), engine.client()
    started, results = threading.Event(), {}
    worker = threading.Thread(target=_long_job, args=(first, results), kwargs={"on_progress": lambda e: started.set()})
    worker.start()
    assert started.wait(60)
    with pytest.raises(EngineError) as caught:
        second.segment(_volume((1, 8, 8)), _geometry((1, 8, 8)))
    assert caught.value.code == "busy"
    second._send({"type": "cancel"})  # a different connection (e.g. a second Slicer) cancels the running job
    assert second._recv()["type"] == "cancel_ack"
    worker.join(10)
    assert isinstance(results.get("error"), CancelledError)
    first.close(), second.close()


def test_killed_engine_gives_a_clear_client_error(model_folder):
    process = EngineProcess.start(model_folder, "cpu", extra_args=["--threads", "1"])
    try:
        client, started, results = process.client(), threading.Event(), {}
        worker = threading.Thread(target=_long_job, args=(client, results), kwargs={"on_progress": lambda e: started.set()})
        worker.start()
        assert started.wait(60)
        os.kill(process.pid, signal.SIGKILL)
        worker.join(15)
        error = results.get("error")
        assert isinstance(error, EngineDiedError), error
        assert f"pid {process.pid}" in str(error) and "exited with code -9" in str(error)
        assert not process.alive()
    finally:
        process.stop()


def test_out_of_memory_becomes_an_error_event_and_the_engine_survives(model_folder):
    import torch

    from SDSegLogic.pipeline import SDSegPipeline
    from SDSegLogic.server.engine import EngineOptions, EngineServer

    class RunsOutOfMemory:
        """The real pipeline, except that the first call raises what CUDA raises when memory runs out."""

        def __init__(self, pipe):
            self.pipe, self.model_card, self.config, self.device, self.calls = pipe, pipe.model_card, pipe.config, pipe.device, 0

        def predict_probabilities(self, *args, **kwargs):
            self.calls += 1
            if self.calls == 1:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.pipe.predict_probabilities(*args, **kwargs)

    server = EngineServer(RunsOutOfMemory(SDSegPipeline.from_pretrained(model_folder, device="cpu")), EngineOptions(token="t" * 32))
    port = server.bind()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with EngineClient("127.0.0.1", port, "t" * 32).connect() as client:
            with pytest.raises(EngineError) as caught:
                client.segment(_volume((2, 8, 8)), _geometry((2, 8, 8)))
            assert caught.value.code == "out_of_memory" and "batch size" in caught.value.message
            assert client.segment(_volume((2, 8, 8)), _geometry((2, 8, 8))).labels.shape == (2, 8, 8)
    finally:
        server.shutdown()


def test_the_job_slot_is_free_before_the_last_frame_goes_out(model_folder, monkeypatch):
    """A client that sends its next job as soon as it holds a result must never be told ``busy``.

    The engine used to release its one-job slot after sending the result, so a quick client could
    race it. Every terminal frame (result, error, cancelled) is checked for a free slot when sent.
    """
    from SDSegLogic.pipeline import SDSegPipeline
    from SDSegLogic.server import connection as connection_module
    from SDSegLogic.server.engine import EngineOptions, EngineServer

    server = EngineServer(SDSegPipeline.from_pretrained(model_folder, device="cpu"), EngineOptions(token="r" * 32))
    slot_held_when_sent = []
    real_send_frame = connection_module.send_frame

    def recording_send_frame(sock, header, arrays=None):
        if header.get("type") in ("result", "error", "cancelled") and header.get("job_id"):
            slot_held_when_sent.append((header["type"], server._job_lock.locked()))
        return real_send_frame(sock, header, arrays)

    monkeypatch.setattr(connection_module, "send_frame", recording_send_frame)
    port = server.bind()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with EngineClient("127.0.0.1", port, "r" * 32).connect() as client:
            for seed in range(3):  # back to back, no pause
                assert client.segment(_volume((2, 8, 8)), _geometry((2, 8, 8)), seed=seed).labels.shape == (2, 8, 8)
            with pytest.raises(EngineError):
                client.segment(_volume((2, 8, 8)), _geometry((2, 8, 8)), slices=(5, 8))  # past the slicing axis: a job error
    finally:
        server.shutdown()
    assert [kind for kind, _ in slot_held_when_sent] == ["result"] * 3 + ["error"]
    assert not any(held for _, held in slot_held_when_sent), slot_held_when_sent
