"""Two cancels of the engine client that did not happen, on a real in-process engine.

* ``cancel(job_id)`` on a client that is not connected (one that only cancels, e.g. a job of
  another client whose id it learnt from a progress event) returned without sending anything: the
  job ran on. It now connects and sends the ``cancel``, as ``ping()`` and ``info()`` connect.
* ``segment(..., should_cancel=...)`` whose ``should_cancel`` already said True (the user pressed
  Cancel while the client connected) still uploaded the whole volume and started the job, and only
  then cancelled it. Now nothing is sent, as for a ``cancel()`` that comes while connecting.

The engine is a real :class:`~SDSegLogic.server.engine.EngineServer`; its volume pipeline (the
``segment_fn`` it takes) records its calls and, for the first test, runs until the job is
cancelled. Every wait has a deadline; the order of events comes from the protocol (a connection's
frames are handled in order), not from sleeps.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine_fixtures import serving_engine, wait_until
from SDSegLogic.errors import CancelledError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import CancelledByOtherClientError, EngineClient

TOKEN = "s18-cancel-paths-" + "k" * 32


def _geometry(shape_kji) -> ImageGeometry:
    k, j, i = shape_kji
    return ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (i, j, k))


class _RunsUntilCancelled:
    """A volume pipeline that reports one progress event, then waits for its job's cancel (at most 60 s)."""

    def __init__(self) -> None:
        self.calls = 0
        self.should_cancel = None

    def __call__(self, image, geometry, predictor, *, progress, should_cancel, **options):
        self.calls += 1
        self.should_cancel = should_cancel
        progress(0, int(image.shape[0]))
        wait_until(should_cancel, timeout=60.0, what="the job's cancel")
        raise CancelledError("cancelled between batches")


def test_cancel_with_a_job_id_from_another_client_leaves_the_job_running():
    """A client's ``cancel(job_id)`` reaches only the job of its own connection (PROTOCOL.md "Job ids"):
    another client naming the same id stops nothing; the job's own client still cancels it."""
    pipeline = _RunsUntilCancelled()
    with serving_engine(None, TOKEN, segment_fn=pipeline) as engine:
        runner = EngineClient("127.0.0.1", engine.port, TOKEN, timeout=30.0)
        volume, job_ids, outcome = np.zeros((2, 8, 8), np.int16), [], {}

        def run() -> None:
            try:
                outcome["result"] = runner.segment(volume, _geometry(volume.shape), on_progress=lambda e: job_ids.append(e["job_id"]))
            except BaseException as exc:  # noqa: BLE001 - asserted below
                outcome["error"] = exc

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        wait_until(lambda: job_ids, what="the job's first progress event")

        other = EngineClient("127.0.0.1", engine.port, TOKEN, timeout=30.0).connect()
        try:
            other.cancel(job_ids[0])
            other.ping()  # answered after the engine handled whatever this client sent before it
            cancelled_by_other = pipeline.should_cancel()
        finally:
            runner.cancel()
            worker.join(60)
            other.close()
        assert not cancelled_by_other, "another client's cancel(job_id) stopped this client's job"
        assert isinstance(outcome.get("error"), CancelledError), outcome
        assert not isinstance(outcome.get("error"), CancelledByOtherClientError), outcome


def test_should_cancel_already_true_sends_no_volume():
    pipeline = _RunsUntilCancelled()
    with serving_engine(None, TOKEN, segment_fn=pipeline) as engine:
        client = EngineClient("127.0.0.1", engine.port, TOKEN, timeout=30.0)
        volume = np.zeros((2, 8, 8), np.int16)
        with pytest.raises(CancelledError, match="before the volume was sent"):
            client.segment(volume, _geometry(volume.shape), should_cancel=lambda: True)
        assert client.ping()["busy"] is False
        assert pipeline.calls == 0, "the volume was uploaded and a job started although should_cancel said True before"
