"""A running engine job, and how it ends when it is stopped: by a ``cancel``, or by the engine's shutdown.

A job stopped by a ``cancel`` (or because its client disconnected) ends with a ``cancelled``
frame, as it always has. A job stopped because the engine itself is shutting down (a ``shutdown``
request from any client, SIGTERM or Ctrl-C to the engine process, its parent exiting, the
embedding program calling :meth:`EngineServer.shutdown <SDSegLogic.server.engine.EngineServer.shutdown>`)
ends with an ``error`` frame of code :data:`ENGINE_SHUTDOWN` instead, so that its client can tell
"you cancelled" from "the engine was stopped under you" (PROTOCOL.md, "Shutdown during a job").

Why an ``error`` frame and not a ``cancelled`` one with an extra field: a client that predates the
code still ends the job on it (every client ends a job on an ``error`` carrying its id) and shows its
message, which says what happened and what to do, where a ``cancelled`` would tell its user that
they cancelled.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Dict, Optional

from ..errors import SDSegError
from .jobs import SegmentRequest

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .connection import Connection
    from .receive_budget import BodyReservation

__all__ = ["ENGINE_SHUTDOWN", "SHUTDOWN_REASONS", "EngineJob", "check_shutdown_reason", "not_started_error", "shutdown_error"]

ENGINE_SHUTDOWN = "engine_shutdown"
"""The ``error`` code of a job that ended because the engine shut down while it ran."""

SHUTDOWN_REASONS: Dict[str, str] = {
    "request": "a client sent it a 'shutdown' request",
    "signal": "its process received a stop signal (SIGTERM or Ctrl-C)",
    "parent_exited": "the program that started it exited",
    "idle_timeout": "it reached its idle timeout",
    "stopped": "the program running it stopped it",
}
"""Why the engine shut down (the ``reason`` field of an ``engine_shutdown`` error) -> how its message says it."""


def check_shutdown_reason(reason: str) -> str:
    """Return ``reason`` when it is a key of :data:`SHUTDOWN_REASONS`.

    Raises:
        SDSegError: naming the unknown reason and the known ones.
    """
    if reason not in SHUTDOWN_REASONS:
        raise SDSegError(f"engine shutdown reason {reason!r} is unknown; use one of {', '.join(SHUTDOWN_REASONS)}.")
    return reason


def shutdown_error(job_id: Optional[str], reason: str) -> Dict[str, Any]:
    """The last frame of job ``job_id``, stopped because the engine shut down for ``reason``."""
    why = SHUTDOWN_REASONS[check_shutdown_reason(reason)]
    return {"type": "error", "job_id": job_id, "code": ENGINE_SHUTDOWN, "reason": reason,
            "message": f"the engine was shut down while segmenting ({why}); the job was stopped and no result was sent. "
                       "Start the engine again, then run the segmentation again."}


def not_started_error(job_id: Optional[str], reason: str) -> Dict[str, Any]:
    """The answer to a ``segment`` request that finished arriving once the engine was shutting down for ``reason``.

    ``job_id`` is the request's own id, None (``null``) when it named none: the job never started.
    """
    why = SHUTDOWN_REASONS[check_shutdown_reason(reason)]
    return {**shutdown_error(job_id, reason),
            "message": f"the engine was shutting down ({why}) when this segment request arrived; the job was not started. "
                       "Start the engine again, then run the segmentation again."}


class EngineJob:
    """One ``segment`` job of the engine.

    Attributes:
        job_id: the client's id for it (or one the engine chose).
        connection: the connection that asked for it, where its frames go.
        request: the validated request; None once the job ended (:meth:`release_request`).
        body: the request body's share of the engine's request-body budget, held while the job runs.
        cancel_event: set once the job must stop; polled between slice batches.
        thread: the job thread, once started.
        shutdown_reason: None while the job runs or when a client stopped it; a key of
            :data:`SHUTDOWN_REASONS` when the engine's shutdown stopped it.
    """

    def __init__(self, job_id: str, connection: "Connection", request: SegmentRequest,
                 body: Optional["BodyReservation"] = None) -> None:
        self.job_id = job_id
        self.connection = connection
        self.request: Optional[SegmentRequest] = request
        self.body = body
        self.cancel_event = threading.Event()
        self.thread: Optional[threading.Thread] = None
        self.shutdown_reason: Optional[str] = None
        self.cancelled_by_other_client = False
        self._lock = threading.Lock()
        self._last_frame_claimed = False

    def cancel(self, shutdown_reason: Optional[str] = None, by_other_client: bool = False) -> None:
        """Ask the job to stop; the first call decides how it ends.

        Args:
            shutdown_reason: None for a client's ``cancel`` (or a client that disconnected): the
                job ends with ``cancelled``. A key of :data:`SHUTDOWN_REASONS` when the engine shuts
                down: it ends with ``error engine_shutdown``. A later call changes neither, so a user
                who cancelled just before the engine stopped still gets ``cancelled``.
            by_other_client: the ``cancel`` came on another connection than the job's: its
                ``cancelled`` frame then says ``"by": "another_client"``, so that its client does
                not report the cancel as its user's own.
        """
        if shutdown_reason is not None:
            check_shutdown_reason(shutdown_reason)
        with self._lock:
            if not self.cancel_event.is_set():
                self.shutdown_reason = shutdown_reason
                self.cancelled_by_other_client = bool(by_other_client) and shutdown_reason is None
                self.cancel_event.set()

    def release_request(self) -> None:
        """Drop the request (its image) and give its body's bytes back to the budget (idempotent)."""
        self.request = None
        if self.body is not None:
            self.body.release()

    def claim_last_frame(self) -> bool:
        """True once: whoever gets it sends the job's last frame (the job thread, or a shutdown that could not wait)."""
        with self._lock:
            claimed, self._last_frame_claimed = self._last_frame_claimed, True
            return not claimed

    def stopped_frame(self) -> Dict[str, Any]:
        """The job's last frame once it stopped on :attr:`cancel_event`."""
        if self.shutdown_reason is None:
            frame = {"type": "cancelled", "job_id": self.job_id}
            return {**frame, "by": "another_client"} if self.cancelled_by_other_client else frame
        return shutdown_error(self.job_id, self.shutdown_reason)
