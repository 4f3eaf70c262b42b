"""The engine's job slot: start, refuse, run and cancel the one job an engine runs at a time.

:class:`JobSlot` is a mixin of :class:`~SDSegLogic.server.engine.EngineServer` (which owns the state
it uses: ``_job_lock``, ``_job``, ``_job_thread``, ``_stop``, ``_stop_reason``, ``predictor`` and
``_segment_fn``); the connection threads call :meth:`JobSlot._start_job` and :meth:`JobSlot._cancel`
for ``segment`` and ``cancel`` requests, and the job thread runs :meth:`JobSlot._run_job`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any, Callable, Optional

from ..errors import SDSegError
from .connection import Connection
from .job_runner import LastFrame, run_segment
from .job_state import EngineJob, not_started_error
from .jobs import classify_exception, parse_segment_request
from .log_text import log_safe
from .protocol import Frame, geometry_from_json
from .receive_budget import BodyReservation
from .wire_values import job_id_text, request_job_id, short_repr, spelled_job_id

__all__ = ["JobSlot"]

log = logging.getLogger("SDSegLogic.server")


class JobSlot:
    """The job half of the engine server (a mixin; see the module docstring)."""

    predictor: Any
    _segment_fn: Optional[Callable[..., Any]]
    _stop: threading.Event
    _stop_reason: Optional[str]
    _job_lock: threading.Lock
    _job: Optional[EngineJob]
    _job_thread: Optional[threading.Thread]

    def _cancel(self, connection: Connection, wanted: Any) -> None:
        """Answer a ``cancel`` naming ``wanted`` (its ``job_id``; PROTOCOL.md, "Job ids").

        An id names a job of this connection only: job ids are the client's own, so two clients that
        both number their jobs from 1 could otherwise cancel each other's. No id (missing or ``null``)
        is the running job, whichever connection started it (its client is told ``by another_client``).
        ``""`` names no job, as for ``segment``: refused with ``bad_request`` rather than answered
        ``was_running: false`` as if the job had ended.
        """
        if wanted == "":
            connection.send({"type": "error", "job_id": "", "code": "bad_request",
                             "message": "cancel job_id \"\" names no job: an empty id is not a job id. Send the id of the "
                                        "segment request, or the one its 'accepted' frame told (when it named none); leave "
                                        "job_id out to cancel the running job."})
            return
        job = self._job
        spelled = None if wanted is None else spelled_job_id(wanted)  # None for 1e400 too: it names no job, not "Infinity"
        hit = job is not None and (wanted is None or (job.connection is connection and spelled is not None and spelled == job.job_id))
        if hit:
            job.cancel(by_other_client=connection is not job.connection)
        # echoed as the engine compares it, a string (7 -> "7"), the spelling of every frame of the job
        connection.send({"type": "cancel_ack", "job_id": None if wanted is None else job_id_text(wanted), "was_running": bool(hit)})

    def _start_job(self, connection: Connection, frame: Frame, held: BodyReservation) -> None:
        given = request_job_id(frame.header)  # 0 is an id (a client numbering its jobs from 0); only none or "" is not
        if given is None and frame.header.get("job_id") not in (None, ""):  # 1e400: read as infinite, no JSON spelling
            connection.send({"type": "error", "job_id": None, "code": "bad_request",
                             "message": f"segment job_id {short_repr(frame.header.get('job_id'), 40)} holds a number beyond "
                                        "float range, which reads as Infinity (not JSON); name the job with a string, "
                                        "or leave job_id out for an id the engine chooses."})
            return
        job_id = given if given is not None else uuid.uuid4().hex[:12]  # told in "accepted"; a refusal says null
        try:
            request = parse_segment_request(frame, geometry_from_json)
        except Exception as exc:  # noqa: BLE001 - SDSegError: the client's mistake; anything else: ours, logged
            code, message = classify_exception(exc)
            if not isinstance(exc, SDSegError):
                log.exception("job %s: cannot read the segment request", log_safe(job_id))
            connection.send({"type": "error", "job_id": given, "code": code, "message": message})
            return
        if not self._job_lock.acquire(blocking=False):
            connection.send({"type": "error", "job_id": given, "code": "busy", "reason": "job_running",
                             "message": "the engine is already running a job (one at a time); wait for it or cancel it."})
            return
        job = EngineJob(job_id, connection, request, held.hand_over())  # the image is the job's now, and so are its bytes
        self._job = job
        if self._stop.is_set():  # after self._job is set: a shutdown that began earlier may not have seen this job
            self._refuse_while_stopping(job, given)
            return
        job.thread = self._job_thread = threading.Thread(target=self._run_job, args=(job,), daemon=True,
                                                         name=f"sdseg-job-{job_id}")
        try:
            job.thread.start()
        except BaseException:  # no thread: nothing else would ever free the slot or the budget
            self._free_slot(job)
            raise

    def _free_slot(self, job: EngineJob) -> None:
        """Free the job slot held by ``job``: no running job, its image's bytes back to the budget, the lock released."""
        self._job = None
        job.release_request()
        self._job_lock.release()

    def _refuse_while_stopping(self, job: EngineJob, given: Optional[str]) -> None:
        """Free the slot of a job whose request finished arriving after the shutdown began, and tell its client.

        Such a job used to start (the connection thread checks for a shutdown only between requests)
        and run under an engine that was closing its connections: its client lost it to a broken connection.
        """
        self._free_slot(job)
        if job.claim_last_frame():
            job.connection.send(not_started_error(given, self._stop_reason or "stopped"))  # given: the id the client knows

    def _run_job(self, job: EngineJob) -> None:
        """The job thread: run ``job``, free the slot, then send its last frame (unless a shutdown already sent one)."""
        final: Optional[LastFrame] = None
        try:
            final = run_segment(job, self.predictor, self._segment_fn)
        finally:
            # the slot, the image and its budget are free before the last frame goes out: a client that
            # sends its next job as soon as it holds this one's result must not find the engine busy
            self._free_slot(job)
        if final is not None and job.claim_last_frame():  # not when a shutdown that could not wait sent it
            job.connection.send(*final)
