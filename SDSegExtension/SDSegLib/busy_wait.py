"""Wait for an engine that is busy with another run instead of failing (no Qt, no MRML, no Slicer).

An engine runs one job at a time and answers a ``segment`` request that finds it running one
with the error ``busy``. That happens to a panel whose user shares a remote GPU engine with
colleagues, and to one whose user clicks Segment again right after a cancel that the engine has not
finished (the engine stops a cancelled job only at its next slice batch). Failing then would leave
the user to click Segment again and again; :func:`segment_when_free` instead pings the engine
every :data:`BUSY_POLL_S` seconds (a ``pong`` says whether it is busy) and sends the volume again only
when it is free, reporting the wait through ``on_wait`` so the panel can say so. Cancel stops the
wait. Pinging, not resending the request, keeps a large volume from crossing the network once per
try; a job another client slips in between the ``pong`` and the request costs one more wait.

The blocking ``SDSegModuleLogic.process`` of a script has no Cancel button: :func:`run_blocking`
bounds its wait with an optional ``timeout``, after which the run is cancelled, nothing is written
and :class:`ProcessTimeoutError` says whether the engine was busy with another run, still starting
or still segmenting. Without a timeout it waits as long as the run takes. Ctrl-C (KeyboardInterrupt)
during the wait cancels the run in the engine too, then is raised again: before, the engine went on
segmenting a volume nobody would receive, and the next run waited for it.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, List, Optional

from SDSegLogic.errors import CancelledError, InputError, SDSegError

__all__ = ["BUSY_POLL_S", "wait_while_busy", "segment_when_free", "ProcessTimeoutError", "run_blocking"]

BUSY_POLL_S = 1.0
"""Seconds between two pings of a busy engine."""


def wait_while_busy(client: Any, should_cancel: Callable[[], bool], on_wait: Optional[Callable[[float], None]] = None,
                    poll_s: float = BUSY_POLL_S) -> None:
    """Return once the engine runs no job.

    Args:
        client: a connected ``SDSegLogic.server.client.EngineClient``.
        should_cancel: polled about every 0.1 s; True stops the wait.
        on_wait: called with the seconds waited so far, once per ping that found the engine busy.
        poll_s: seconds between pings.

    Raises:
        CancelledError: ``should_cancel`` returned True while the engine was busy.
        SDSegError: the engine did not answer a ping (``EngineDiedError``, after the client's timeout).
    """
    started = time.monotonic()
    while client.ping().get("busy"):
        waited = time.monotonic() - started
        if on_wait is not None:
            on_wait(waited)
        until = time.monotonic() + poll_s
        while time.monotonic() < until:
            if should_cancel():
                raise CancelledError(f"cancelled while waiting {waited:.0f} s for the engine to finish another run; "
                                     "nothing was sent to it.")
            time.sleep(min(0.1, max(0.0, until - time.monotonic())))


def segment_when_free(client: Any, image: Any, geometry: Any, should_cancel: Callable[[], bool],
                      on_wait: Optional[Callable[[float], None]] = None, poll_s: float = BUSY_POLL_S, busy: bool = False,
                      **segment_options: Any) -> Any:
    """``client.segment(image, geometry, ...)`` once the engine is free; its ``SegmentOutput``.

    Args:
        client: a connected ``EngineClient``.
        image, geometry: the volume and its grid, as for ``EngineClient.segment``.
        should_cancel: polled while waiting and passed on to ``segment``.
        busy: the engine said it was busy (``info``'s ``busy``): wait before sending the volume.
            Otherwise the request goes out at once, with no extra round trip, and only a ``busy``
            answer starts the wait.
        on_wait: see :func:`wait_while_busy`; the seconds count from the first busy answer.
        poll_s: seconds between pings of a busy engine.
        **segment_options: ``on_progress``, ``poll_s`` of the job (as ``job_poll_s``) and the
            segment options, passed on to ``EngineClient.segment``.

    Raises:
        CancelledError: cancelled while waiting or during the job.
        EngineError: any error of the job other than ``busy``.
    """
    from SDSegLogic.server.client import EngineError

    started = time.monotonic()
    job_poll_s = segment_options.pop("job_poll_s", 0.1)

    def report(_: float = 0.0) -> None:  # the seconds since the first busy answer, not since this wait began
        if on_wait is not None:
            on_wait(time.monotonic() - started)

    while True:
        if busy:
            wait_while_busy(client, should_cancel, report, poll_s)
        try:
            return client.segment(image, geometry, should_cancel=should_cancel, poll_s=job_poll_s, **segment_options)
        except EngineError as exc:
            if exc.code != "busy":
                raise
            busy = True  # running another job (or one slipped in between the pong and the request): wait
            report()


class ProcessTimeoutError(SDSegError, TimeoutError):
    """The blocking run gave no result within its ``timeout`` (it was cancelled; nothing was written)."""

    code = "timeout"


_CANCEL_END_S = 10.0
"""Seconds to wait for a timed-out run to end after its cancel (a job's cancel deadline ends it within 5 s)."""


def _still_doing(events: List[Any]) -> str:
    """What the run was doing when its time ran out, from its last events."""
    last = next((event for event in reversed(events) if event.kind in ("info", "waiting", "progress")), None)
    if last is None:
        return "the engine was still starting or loading the model"
    if last.kind == "waiting":
        return "the engine was busy with another run all that time"
    if last.kind == "progress":
        return f"the engine was still segmenting: {last.data.get('done', 0)} of {last.data.get('total', '?')} slices done"
    return "the engine had not started segmenting"


def _cancel_and_wait(job: Any) -> None:
    """Cancel ``job`` and wait up to :data:`_CANCEL_END_S` for it to end (the engine confirms, or the deadline ends it)."""
    job.cancel()
    job.wait(_CANCEL_END_S)


def run_blocking(start: Callable[[], Any], timeout: Optional[float] = None) -> Any:
    """Start a job and block until it ends ``done`` (``SDSegModuleLogic.process``); the finished job.

    Args:
        start: starts and returns the job (a ``SegmentationJob`` or a ``SequenceRun``).
        timeout: seconds to wait for the result, or None to wait as long as it takes (also while
            the engine is busy with another client's run).

    Raises:
        InputError: ``timeout`` is not a positive number (nothing is started).
        ProcessTimeoutError: no result within ``timeout``; the run was cancelled and nothing was written.
        KeyboardInterrupt: Ctrl-C during the wait; the run was cancelled first (its cancel confirmed, or
            given up after :data:`_CANCEL_END_S` seconds) and nothing was written.
        CancelledError: the run was cancelled (e.g. by another client of the engine).
        SDSegError: the run failed (the job's own error when it has one).
    """
    if timeout is not None:
        try:
            seconds = float(timeout)
        except (TypeError, ValueError):
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds > 0):
            raise InputError(f"timeout {timeout!r} must be a positive number of seconds, or None to wait as long as the run takes.")
        timeout = seconds
    job = start()
    try:
        events = job.wait(timeout)
    except BaseException:  # Ctrl-C (KeyboardInterrupt) while blocked: the engine's job must not run on unseen
        _cancel_and_wait(job)
        raise
    if not job.finished:
        _cancel_and_wait(job)
        raise ProcessTimeoutError(
            f"SDSeg got no result within {timeout:g} s ({_still_doing(events)}); the run was cancelled and nothing was "
            "written. Run it again when the engine is free, or with a larger timeout (None waits as long as it takes).")
    for event in events:
        if event.kind == "error":
            raise job.error if isinstance(job.error, SDSegError) else SDSegError(event.text)
        if event.kind == "cancelled":
            raise CancelledError(event.text)
    return job
