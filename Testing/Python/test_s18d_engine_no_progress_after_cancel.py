"""A job that was cancelled sends no more ``progress``: its next frame is ``cancelled``.

The volume pipeline reports progress after each slice batch and checks for a cancel before the
next one, so a ``cancel`` that arrived while a batch ran was followed by a ``progress`` frame for
that batch (``done 1 of 2``, an ETA) before ``cancelled``: a client showed its job advancing after its
user had cancelled it. The engine now drops progress once the job is cancelled.

A real in-process engine serves a tiny random-weight model (engine_fixtures.py); its volume pipeline
is the real :func:`~SDSegLogic.segment.segment_array`; the cancel is sent once its first batch was
predicted and stored, and that batch's progress report is held until the cancel reached the job:
the cancel lands between a batch's end and its report every time (a cancel during the predictor's
run is seen inside it and never had this problem).
"""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from engine_fixtures import make_tiny_model, raw_frame, read_reply, serving_engine
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.protocol import PROTOCOL_VERSION, geometry_to_json

TOKEN = "s18d-no-progress-" + "p" * 32
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from SDSegLogic.pipeline import SDSegPipeline

    return SDSegPipeline.from_pretrained(make_tiny_model(tmp_path_factory.mktemp("m") / "tiny-progress"), device="cpu")


def test_no_progress_frame_follows_a_cancel(pipeline):
    from SDSegLogic.segment import segment_array

    engine_box, predicted = [], threading.Event()

    def progress_after_cancel(*args, progress, **kwargs):
        """The real pipeline; its first batch's report waits, once the batch was predicted, for the test's cancel."""
        def report(done: int, total: int) -> None:
            predicted.set()  # the batch was predicted and stored: the test sends its cancel now
            job = engine_box[0]._job
            if job is not None:
                job.cancel_event.wait(60)
            progress(done, total)

        return segment_array(*args, progress=report, **kwargs)

    image = np.random.default_rng(0).normal(0, 100, (3, 16, 16)).astype(np.int16)
    geometry = ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (16, 16, 3))
    header = {"type": "segment", "job_id": "p", "geometry": geometry_to_json(geometry), "options": {"batch_size": 1},
              "arrays": [{"name": "image", "dtype": "int16", "shape": list(image.shape), "offset": 0, "nbytes": image.nbytes}]}
    with serving_engine(pipeline, TOKEN, segment_fn=progress_after_cancel) as engine:
        engine_box.append(engine)
        with socket.create_connection(("127.0.0.1", engine.port), timeout=30) as sock:
            sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
            assert read_reply(sock)["type"] == "welcome"
            sock.sendall(raw_frame(header, image.tobytes()))
            assert read_reply(sock, 60)["type"] == "accepted"
            assert predicted.wait(60), "the first batch never ended"
            sock.sendall(raw_frame({"type": "cancel", "job_id": "p"}))
            frames = [read_reply(sock, 60)]
            while frames[-1]["type"] not in ("result", "error", "cancelled"):
                frames.append(read_reply(sock, 60))
    assert frames[-1] == {"type": "cancelled", "job_id": "p"}, frames
    assert [f for f in frames if f["type"] == "progress"] == [], frames
    assert any(f["type"] == "cancel_ack" and f["was_running"] for f in frames), frames
