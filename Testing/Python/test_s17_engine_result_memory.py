"""The client holds a result map once: received straight into arrays of its own, never copied.

A real engine process serves the tiny random-weight model of engine_fixtures.py, so the memory
traced in this process is the client's alone. The client used to receive the result frame into
one body buffer and then copy every array out of it (``np.array``): twice the result at the peak.
The frames of the socket-pair tests are hand-made (gaps, overlaps, bad descriptions), as only a
hostile or broken peer sends them; the stream must stay in step after each.
"""

from __future__ import annotations

import socket
import threading
import tracemalloc

import numpy as np
import pytest

from engine_fixtures import model_folder, raw_frame  # noqa: F401 - model_folder: a pytest fixture (a tiny model folder)
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineProcess
from SDSegLogic.server.protocol import ProtocolError, send_frame

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_a_result_is_never_held_twice_and_its_arrays_are_the_caller_s(model_folder):
    process = EngineProcess.start(model_folder, "cpu", extra_args=["--threads", "1"])
    try:
        client = process.client(timeout=30.0)
        volume = np.zeros((48, 128, 128), np.int16)  # labels 0.75 MiB + probabilities 3 MiB
        geometry = ImageGeometry((1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3), (128, 128, 48))
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            out = client.segment(volume, geometry, batch_size=16, want_probabilities=True)
            peak = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
        client.close()
    finally:
        process.stop()
    result_bytes = out.labels.nbytes + out.probabilities.nbytes
    assert out.labels.shape == volume.shape and out.probabilities.shape == volume.shape
    assert peak < 1.5 * result_bytes, f"the client's peak was {peak} bytes for a {result_bytes}-byte result"
    for array in (out.labels, out.probabilities):
        assert array.flags.writeable and array.flags.owndata and array.flags.c_contiguous
    assert not np.shares_memory(out.labels, out.probabilities)


def _pair():
    left, right = socket.socketpair()
    left.settimeout(10)
    right.settimeout(10)
    return left, right


def _spec(name, dtype, shape, offset):
    return {"name": name, "dtype": dtype, "shape": list(shape), "offset": offset,
            "nbytes": int(np.prod(shape)) * np.dtype(dtype).itemsize}


def test_arrays_sent_by_the_real_encoder_arrive_equal_and_owned():
    from SDSegLogic.server.receive_arrays import recv_frame_owned

    left, right = _pair()
    labels = np.arange(3 * 5 * 7, dtype=np.uint8).reshape(3, 5, 7)
    probabilities = np.linspace(0, 1, 2 * 3 * 5 * 7, dtype=np.float32).reshape(2, 3, 5, 7)
    empty = np.zeros((0, 4), np.int16)
    sender = threading.Thread(target=send_frame, args=(left, {"type": "result"},
                                                       {"labels": labels, "empty": empty, "probabilities": probabilities}))
    sender.start()
    frame = recv_frame_owned(right, 1 << 20, 1 << 30)
    sender.join(10)
    assert frame.type == "result" and sorted(frame.arrays) == ["empty", "labels", "probabilities"]
    np.testing.assert_array_equal(frame.arrays["labels"], labels)
    np.testing.assert_array_equal(frame.arrays["probabilities"], probabilities)
    assert frame.arrays["empty"].shape == (0, 4)
    assert all(a.flags.owndata and a.flags.writeable for a in frame.arrays.values())
    left.close()
    right.close()


def test_gaps_overlaps_and_bad_descriptions_keep_the_stream_in_step():
    from SDSegLogic.server.receive_arrays import recv_frame_owned

    left, right = _pair()
    a, b = np.arange(4, dtype=np.uint8), np.arange(4, 8, dtype=np.uint8)
    gapped = raw_frame({"type": "r", "arrays": [_spec("b", "uint8", (4,), 10), _spec("a", "uint8", (4,), 2)]},
                       b"xx" + a.tobytes() + b"yyyy" + b.tobytes() + b"zz")
    overlapping = raw_frame({"type": "r", "arrays": [_spec("a", "uint8", (4,), 0), _spec("b", "uint8", (4,), 2)]}, bytes(range(6)))
    bad_dtype = raw_frame({"type": "r", "arrays": [_spec("a", "uint8", (4,), 0) | {"dtype": "complex64"}]}, bytes(4))
    too_many_dims = raw_frame({"type": "r", "arrays": [_spec("a", "uint8", (1,) * 65, 0)]}, bytes(1))
    after = raw_frame({"type": "pong"})
    left.sendall(gapped + overlapping + bad_dtype + too_many_dims + after)

    frame = recv_frame_owned(right, 1 << 20, 1 << 20)
    np.testing.assert_array_equal(frame.arrays["a"], a)
    np.testing.assert_array_equal(frame.arrays["b"], b)
    frame = recv_frame_owned(right, 1 << 20, 1 << 20)
    assert frame.arrays["a"].tolist() == [0, 1, 2, 3] and frame.arrays["b"].tolist() == [2, 3, 4, 5]
    frame.arrays["a"][2] = 99  # overlapping arrays are copies of their own
    assert frame.arrays["b"][0] == 2 and frame.arrays["a"].flags.owndata
    for code in ("bad_dtype", "bad_shape"):
        with pytest.raises(ProtocolError) as caught:
            recv_frame_owned(right, 1 << 20, 1 << 20)
        assert caught.value.code == code and not caught.value.fatal
    assert recv_frame_owned(right, 1 << 20, 1 << 20).type == "pong"
    left.close()
    right.close()
