"""What the engine's job thread computes: one ``segment`` job, from ``accepted`` to its last frame.

:func:`run_segment` sends ``accepted`` and the ``progress`` events and returns the job's last frame
(``result``, ``cancelled``, ``error engine_shutdown`` or another ``error``) without sending it:
:class:`~SDSegLogic.server.engine.EngineServer` first frees the job slot and the request's image
(and its share of the request-body budget), then sends it, so a client that sends its next job
as soon as it holds this one's result never finds the engine busy.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from ..errors import CancelledError
from .job_state import EngineJob
from .jobs import classify_exception
from .log_text import log_safe
from .protocol import geometry_to_json

__all__ = ["LastFrame", "run_segment"]

log = logging.getLogger("SDSegLogic.server")

LastFrame = Tuple[Dict[str, Any], Optional[Dict[str, np.ndarray]]]
"""A frame's header and arrays, as :meth:`Connection.send <SDSegLogic.server.connection.Connection.send>` takes them."""


def run_segment(job: EngineJob, predictor: Any, segment_fn: Optional[Callable[..., Any]]) -> LastFrame:
    """Run ``job`` on ``predictor``; returns its last frame (never raises for a failure of the job).

    Args:
        job: the job; its ``request`` is read here, its ``cancel_event`` polled between batches.
        predictor: the loaded pipeline.
        segment_fn: the volume pipeline (:func:`SDSegLogic.segment.segment_array` when None).
    """
    request, send = job.request, job.connection.send
    started = time.monotonic()
    name = log_safe(job.job_id)  # the client's text: a newline in it would forge a log line
    log.info("job %s: %s %s, options %s", name, request.image.dtype, tuple(request.image.shape), request.options)

    def progress(done: int, total: int) -> None:
        if job.cancel_event.is_set():  # a batch that ended after the cancel: its next frame is the last one, no progress
            return
        # same estimate as SDSegLogic.progress.ProgressTracker, timed from the job's start
        elapsed = time.monotonic() - started
        eta = 0.0 if done >= total else (elapsed / done * (total - done) if done > 0 else None)
        send({"type": "progress", "job_id": job.job_id, "done": int(done), "total": int(total),
              "elapsed_s": round(elapsed, 3), "eta_s": None if eta is None else round(eta, 3)})

    try:
        send({"type": "accepted", "job_id": job.job_id})
        segment = segment_fn
        if segment is None:
            from ..segment import segment_array as segment
        opts = request.options
        result = segment(
            request.image, request.geometry, predictor,
            slices=opts["slices"], batch_size=opts["batch_size"],
            num_inference_steps=opts["num_inference_steps"], num_samples=opts["num_samples"], seed=opts["seed"],
            progress=progress, should_cancel=job.cancel_event.is_set,
            keep_probabilities=bool(opts["want_probabilities"]), keep_variance=bool(opts["want_variance"]),
            modality=opts["modality"],
            strict_channels=opts["strict"], strict_modality=opts["strict"],  # a mismatch: InputError -> input_error
            nan_policy=opts["nan_policy"],
        )
        if job.cancel_event.is_set():
            raise CancelledError("cancelled after the last batch")
        arrays = {"labels": np.ascontiguousarray(result.labels, dtype=np.uint8)}
        if opts["want_probabilities"] and result.probabilities is not None:
            arrays["probabilities"] = np.asarray(result.probabilities, dtype=np.float32)
        if opts["want_variance"] and result.variance is not None:
            arrays["variance"] = np.asarray(result.variance, dtype=np.float32)
        log.info("job %s: done in %.2f s", name, time.monotonic() - started)
        return ({"type": "result", "job_id": job.job_id, "geometry": geometry_to_json(result.geometry),
                 "model_id": getattr(result, "model_id", ""), "model_version": getattr(result, "model_version", ""),
                 "voxel_counts": dict(getattr(result, "voxel_counts", {}) or {}), "options": opts,
                 "warnings": [str(w) for w in getattr(result, "warnings", ()) or ()],
                 "seconds": round(time.monotonic() - started, 3)}, arrays)
    except CancelledError:
        log.info("job %s: %s after %.2f s", name, "cancelled" if job.shutdown_reason is None else
                 f"stopped by the engine's shutdown ({job.shutdown_reason})", time.monotonic() - started)
        return job.stopped_frame(), None
    except Exception as exc:  # noqa: BLE001 - every failure becomes an error event
        code, message = classify_exception(exc)
        if code in ("internal_error",):
            log.error("job %s failed:\n%s", name, traceback.format_exc())
        else:
            log.warning("job %s: %s: %s", name, code, log_safe(message))
        return {"type": "error", "job_id": job.job_id, "code": code, "message": message}, None
