"""The engine's budget for request bodies, all connections together, and the one-buffer body receive.

Before, only each body was bounded (``max_request_bytes``): eight authenticated clients could each be
sending one, so the engine could hold eight times the limit. Now a body counts against
``max_inflight_request_bytes`` from its prefix until its frame is dropped or its job ends; one that
does not fit is read and dropped and answered ``busy`` (reason ``receive_budget``), the connection
kept. An in-process :class:`~SDSegLogic.server.engine.EngineServer` serves the tiny random-weight
model of engine_fixtures.py with a 1 MiB request limit; "holders" are raw sockets that declare a body,
send part of it and stop, which is how a slow upload looks to the engine. Every wait has a deadline.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time

import numpy as np
import pytest

import slicer_logic_helpers  # noqa: F401 - puts SDSegLib (the Slicer panel's busy wait) on sys.path
from engine_fixtures import raw_frame, read_reply, serving_on_port, tiny_pipeline_fixture, wait_until
from SDSegLib.busy_wait import segment_when_free
from SDSegLogic.errors import CancelledError, SDSegError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineBusyError, EngineClient, EngineError
from SDSegLogic.server.engine import EngineOptions
from SDSegLogic.server.protocol import PROTOCOL_VERSION, encode_frame, geometry_to_json, recv_frame

TOKEN = "budget-" + "b" * 32
MIB = 1 << 20
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


pipeline = tiny_pipeline_fixture("tiny-budget")


def serving(pipeline, segment_fn=None, **options):
    """An in-process engine with a 1 MiB request limit (budget: ``options`` or the default 2 MiB)."""
    return serving_on_port(pipeline, TOKEN, segment_fn, max_request_bytes=MIB, **options)


def _volume(nbytes: int, seed: int = 0) -> np.ndarray:
    """A float32 (K, 32, 32) volume of about ``nbytes`` (4 KiB a slice)."""
    return np.random.default_rng(seed).uniform(-200, 300, (max(1, nbytes // 4096), 32, 32)).astype(np.float32)


def _geometry(volume: np.ndarray) -> ImageGeometry:
    k, j, i = volume.shape[:3]
    return ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (i, j, k))


def _segment_bytes(volume: np.ndarray, **options) -> bytes:
    """A whole ``segment`` frame for ``volume`` (two slices segmented, so a job is quick)."""
    header = {"type": "segment", "job_id": "raw", "geometry": geometry_to_json(_geometry(volume)),
              "options": {"slices": [0, 2], **options}}
    return b"".join(bytes(chunk) for chunk in encode_frame(header, {"image": volume}))


def _hello(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
    if read_reply(sock)["type"] != "welcome":
        raise AssertionError("no welcome")
    return sock


def _hold(port: int, frame: bytes, keep_back: int = 4096) -> socket.socket:
    """A connection that sent all of ``frame`` but its last ``keep_back`` bytes (mid-body), and stopped."""
    sock = _hello(port)
    sock.sendall(frame[:-keep_back])
    return sock


def _quick(client: EngineClient, nbytes: int, **options):
    volume = _volume(nbytes)
    return client.segment(volume, _geometry(volume), slices=(0, 2), **options)


def _idle(port: int) -> bool:
    with EngineClient("127.0.0.1", port, TOKEN) as client:
        return not client.ping()["busy"]


def test_a_body_over_the_budget_is_refused_busy_while_small_requests_still_answer(pipeline):
    with serving(pipeline) as (server, port):  # 2 MiB budget
        big = _segment_bytes(_volume(MIB - 8192))
        holders = [_hold(port, big), _hold(port, big)]
        try:
            wait_until(lambda: server._budget.in_use >= 2 * (MIB - 8192), 30, "both holders counted")
            with EngineClient("127.0.0.1", port, TOKEN) as late, EngineClient("127.0.0.1", port, TOKEN) as other:
                with pytest.raises(EngineBusyError) as caught:
                    _quick(late, 600 << 10)
                refusal = caught.value
                assert refusal.code == "busy" and refusal.reason == "receive_budget" and refusal.retry_after_s == 1.0
                assert "budget" in refusal.message and "--max-inflight-request-bytes" in refusal.message
                assert server._budget.in_use < 2 * MIB  # the refused body was never counted (nor held)
                # tiny requests never wait on the budget; pong says busy, so a polite client waits
                assert other.ping() == {"type": "pong", "busy": True}
                assert other.info()["limits"]["max_inflight_request_bytes"] == 2 * MIB
                other._send({"type": "cancel", "job_id": "none"})
                assert other._recv()["type"] == "cancel_ack"
                assert late.ping()["busy"] is True  # the refused connection is still in step
                assert late.welcome["limits"]["max_inflight_request_bytes"] == 2 * MIB
                for sock in holders:  # the holders finish: their jobs run (or one is told busy: one job at a time)
                    sock.sendall(big[-4096:])
                    assert read_reply(sock, 60)["type"] in ("accepted", "error")
                wait_until(lambda: _idle(port), 60, "the holders' jobs ended")
                assert server._budget.in_use == 0
                assert _quick(late, 600 << 10).labels.shape == (150, 32, 32)  # now it fits
        finally:
            for sock in holders:
                sock.close()


def test_the_budget_comes_back_when_a_client_disconnects_mid_body(pipeline):
    with serving(pipeline, max_inflight_request_bytes=MIB) as (server, port):  # room for one large body
        holder = _hold(port, _segment_bytes(_volume(MIB - 8192)), keep_back=300 << 10)
        wait_until(lambda: server._budget.in_use > 0, 30, "the holder counted")
        assert not _idle(port)
        holder.close()
        wait_until(lambda: _idle(port), 30, "the disconnected body's bytes given back")
        assert server._budget.in_use == 0
        with EngineClient("127.0.0.1", port, TOKEN) as client:
            assert _quick(client, MIB - 8192).labels.shape[0] == 254


def _stall(port: int) -> None:  # io_timeout: the engine drops a connection that stops mid-body
    with _hold(port, _segment_bytes(_volume(600 << 10))) as sock:
        assert read_reply(sock, 30)["code"] == "io_timeout"


def _bad_shape(port: int) -> None:  # the whole body arrived, its array description is wrong
    frame = bytearray(_segment_bytes(_volume(600 << 10)))
    hlen = struct.unpack_from("<I", frame, 4)[0]
    header = json.loads(frame[16:16 + hlen])
    header["arrays"][0]["shape"][0] += 1
    data = json.dumps(header).encode()
    with _hello(port) as sock:
        sock.sendall(struct.pack("<4sIQ", b"SDSG", len(data), len(frame) - 16 - hlen) + data + frame[16 + hlen:])
        assert read_reply(sock, 30)["code"] == "bad_shape"


def _refused_request(port: int) -> None:  # parsed and refused before any job: an unknown option
    with _hello(port) as sock:
        sock.sendall(_segment_bytes(_volume(600 << 10), colour="blue"))
        assert read_reply(sock, 30)["code"] == "input_error"


def _job_error(port: int) -> None:  # the job itself fails: NaN voxels are refused by the pipeline
    volume = _volume(600 << 10)
    volume[0, 0, 0] = np.nan
    with EngineClient("127.0.0.1", port, TOKEN) as client, pytest.raises(EngineError) as caught:
        client.segment(volume, _geometry(volume), slices=(0, 2))
    assert caught.value.code == "input_error"


def _job_cancelled(port: int) -> None:  # 150 one-slice batches: the cancel after the first one stops it
    volume = _volume(600 << 10)
    with EngineClient("127.0.0.1", port, TOKEN) as client, pytest.raises(CancelledError):
        client.segment(volume, _geometry(volume), batch_size=1, on_progress=lambda event: client.cancel())


@pytest.mark.parametrize("fail", [_stall, _bad_shape, _refused_request, _job_error, _job_cancelled],
                         ids=["io_timeout mid-body", "bad_shape", "input_error before the job", "job error", "job cancelled"])
def test_the_budget_comes_back_after_errors_and_timeouts(pipeline, fail):
    with serving(pipeline, max_inflight_request_bytes=MIB, io_timeout_s=1.0) as (server, port):
        fail(port)
        wait_until(lambda: _idle(port), 30, "the failed request's bytes given back")
        assert server._budget.in_use == 0
        with EngineClient("127.0.0.1", port, TOKEN) as client:  # a body that needs the whole budget fits
            assert _quick(client, MIB - 8192).labels.shape[0] == 254


def test_the_budget_comes_back_when_the_engine_shuts_down_mid_body(pipeline):
    with serving(pipeline) as (server, port):
        with _hold(port, _segment_bytes(_volume(MIB - 8192))):
            wait_until(lambda: server._budget.in_use > 0, 30, "the holder counted")
            server.shutdown()
            wait_until(lambda: server._budget.in_use == 0, 30, "the holder's bytes given back at shutdown")


def test_the_slicer_busy_wait_waits_out_a_full_budget_then_sends(pipeline):
    with serving(pipeline, max_inflight_request_bytes=MIB) as (server, port):
        holder = _hold(port, _segment_bytes(_volume(MIB - 8192)))
        wait_until(lambda: server._budget.in_use > 0, 30, "the holder counted")
        threading.Timer(1.5, holder.close).start()  # the other upload goes away after a while
        waits, volume = [], _volume(600 << 10)
        with EngineClient("127.0.0.1", port, TOKEN) as client:
            output = segment_when_free(client, volume, _geometry(volume), should_cancel=lambda: False,
                                       on_wait=waits.append, poll_s=0.2, slices=(0, 2))
        assert output.labels.shape == volume.shape and waits, "refused for the budget, waited, then sent"


def test_budget_options_are_checked_and_default_to_twice_the_request_limit():
    assert EngineOptions(token=TOKEN, max_request_bytes=MIB).max_inflight_request_bytes == 2 * MIB
    EngineOptions(token=TOKEN, max_request_bytes=MIB, max_inflight_request_bytes=MIB).validate()
    for bad in (MIB - 1, 0, -5, 1.5e9, True):
        with pytest.raises(SDSegError, match="max_inflight_request_bytes"):
            EngineOptions(token=TOKEN, max_request_bytes=MIB, max_inflight_request_bytes=bad).validate()
    from SDSegLogic.server.__main__ import build_parser

    args = build_parser().parse_args(["--model", "m", "--max-inflight-request-bytes", str(3 * MIB)])
    assert args.max_inflight_request_bytes == 3 * MIB


def _send_in_pieces(sock: socket.socket, data: bytes, seed: int) -> None:
    rng, view, at = random.Random(seed), memoryview(data), 0
    while at < len(data):
        step = rng.choice((1, 3, 7, 16, 511, 4096, 65537))
        sock.sendall(view[at:at + step])
        at += step
        if rng.random() < 0.01:
            time.sleep(0.001)


def test_a_body_sent_in_many_small_pieces_arrives_byte_for_byte():
    rng = np.random.default_rng(7)
    arrays = {"a": rng.standard_normal((37, 41, 3)).astype(np.float32), "b": rng.integers(0, 255, 300_001, dtype=np.uint8),
              "c": np.zeros((0, 4), np.int16)}
    data = b"".join(bytes(chunk) for chunk in encode_frame({"type": "x"}, arrays))
    left, right = socket.socketpair()
    with left, right:
        sender = threading.Thread(target=_send_in_pieces, args=(left, data, 3), daemon=True)
        sender.start()
        right.settimeout(30)
        frame = recv_frame(right, 1 << 20, 1 << 30)
        sender.join(30)
    assert frame.type == "x" and sorted(frame.arrays) == ["a", "b", "c"]
    for name, array in arrays.items():
        assert frame.arrays[name].dtype == array.dtype and frame.arrays[name].shape == array.shape
        assert frame.arrays[name].tobytes() == array.tobytes()


def test_the_engine_receives_a_volume_sent_in_many_small_pieces_exactly(pipeline):
    seen = []

    def recording(image, *args, **kwargs):
        from SDSegLogic.segment import segment_array

        seen.append(np.array(image))
        return segment_array(image, *args, **kwargs)

    volume = _volume(200 << 10, seed=5)
    with serving(pipeline, segment_fn=recording) as (server, port), _hello(port) as sock:
        _send_in_pieces(sock, _segment_bytes(volume), seed=11)
        replies = [read_reply(sock, 60) for _ in range(2)]
        while replies[-1]["type"] == "progress":
            replies.append(read_reply(sock, 60))
        assert replies[0]["type"] == "accepted" and replies[-1]["type"] == "result", replies
    assert len(seen) == 1 and seen[0].dtype == volume.dtype and seen[0].tobytes() == volume.tobytes()
