"""Run segmentations in the engine process without blocking Slicer (no Qt in this file).

* :class:`~SDSegLib.engine_manager.EngineManager` (imported from here too) keeps one local engine
  process warm per (model, device), or targets a remote engine (:mod:`SDSegLib.engine_manager`).
* :class:`SegmentationJob` runs one request in a Python worker thread. The thread only waits on a
  socket (the model runs in the engine *process*), so Slicer's GUI thread stays free. The widget
  calls :meth:`SegmentationJob.poll` from a ``qt.QTimer`` and gets the queued events; Cancel calls
  :meth:`SegmentationJob.cancel`, which the engine honours between slice batches; a job whose engine
  has not confirmed within :data:`~SDSegLib.cancel_deadline.CANCEL_DEADLINE_S` ends as cancelled
  anyway (:mod:`SDSegLib.cancel_deadline`).

Nothing in a worker thread touches MRML, VTK or Qt: the result arrays are handed to the GUI
thread, which writes the segmentation node.
"""

from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from SDSegLogic.errors import CancelledError, SDSegError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import CancelledByOtherClientError, EngineClient, SegmentOutput

from .busy_wait import segment_when_free
from .cancel_deadline import CANCEL_DEADLINE_S, ENGINE_PROBE_S, abort_connection, start_deadline, unconfirmed_text
from .diagnostics import describe_engine, redact_url  # describe_engine: public here too (the panel's device line)
# the engine process's manager: its own module; the names in __all__ stay importable from here
from .engine_manager import GPU_KERNEL_CHOICES, EngineManager, find_python, read_log_tail
from .progress_guard import ProgressGuard

__all__ = ["find_python", "describe_engine", "read_log_tail", "EngineManager", "JobEvent", "SegmentationJob",
           "GPU_KERNEL_CHOICES", "ENGINE_LOG_CODES", "ENGINE_STOPPED_TEXT"]

ENGINE_LOG_CODES = ("internal_error", "engine_died")
"""Error codes whose explanation is in the engine log: a failed job then carries its last lines."""


def waiting_text(seconds: float) -> str:
    """The panel's line while the engine finishes another run (``waiting`` events)."""
    return f"The engine is busy with another run; waiting for it ({seconds:.0f} s). Cancel stops waiting."


def done_text(seconds: Any) -> str:
    """The ``done`` event's first sentence; a ``seconds`` that is no finite number >= 0 (another engine's) is left out.

    A remote engine may be another SDSeg version: its text or null ``seconds`` raised in ``:.1f``
    and turned a finished segmentation into a ``client_error``.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return "Segmented."
    try:
        value = float(seconds)
    except OverflowError:  # an integer beyond float range (10**400 is valid JSON)
        return "Segmented."
    return f"Segmented in {value:.1f} s." if math.isfinite(value) and value >= 0 else "Segmented."


OTHER_CLIENT_CANCEL_TEXT = "Cancelled by another client of the engine, not from this panel; nothing was written."
"""The ``cancelled`` event's text when a ``cancel`` sent on another connection (a script, a colleague) stopped the job."""

CROSSED_CANCEL_TEXT = ("Cancelled; nothing was written. The engine finished just as the cancel reached it; "
                       "its result was discarded.")
"""The ``cancelled`` event's text when the result came after the user's Cancel (which promises that nothing is written)."""

ENGINE_STOPPED_TEXT = "The engine was stopped while segmenting; nothing was written. Run Segment again."
"""First line of the ``engine_shutdown`` error: the engine was shut down under the job (not the user's Cancel)."""


@dataclass
class JobEvent:
    """What :meth:`SegmentationJob.poll` returns.

    Attributes:
        kind: ``"info"`` (engine info, once), ``"waiting"`` (the engine is busy with another run;
            ``data["seconds"]`` waited), ``"progress"`` (done/total/eta_s), ``"done"`` (output;
            ``data["warnings"]``: the engine's quality warnings), ``"cancelled"`` (the user's Cancel;
            ``data["confirmed"]`` False when the engine did not confirm it in time) or
            ``"error"`` (text, ``data["code"]``: ``engine_shutdown`` when the engine was stopped during the
            job, the text then starting with :data:`ENGINE_STOPPED_TEXT`; for the :data:`ENGINE_LOG_CODES` of a local engine also
            ``data["log_tail"]``, the last lines of the session's engine log).
    """

    kind: str
    text: str = ""
    data: Dict[str, Any] = field(default_factory=dict)
    output: Optional[SegmentOutput] = None


class SegmentationJob:
    """One segmentation running in a worker thread.

    Args:
        manager: where to get a client.
        image, geometry: the volume (K, J, I[, 3]) and its LPS grid (copies made by the caller).
        model, device, remote_url, remote_token, gpu_kernels: engine choice (see
            :meth:`EngineManager.client`).
        options: keyword arguments for :meth:`EngineClient.segment` (steps, samples, seed, ...).
    """

    def __init__(self, manager: EngineManager, image: np.ndarray, geometry: ImageGeometry, model: str, device: str = "auto",
                 remote_url: str = "", remote_token: str = "", gpu_kernels: str = "auto", **options: Any) -> None:
        self.manager = manager
        self.image, self.geometry = image, geometry
        self.model, self.device, self.remote_url, self.remote_token = model, device, remote_url, remote_token
        self.gpu_kernels = gpu_kernels
        self.options = options
        self._events: "queue.Queue[JobEvent]" = queue.Queue()
        self._cancel = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._client: Optional[EngineClient] = None
        self._ended = threading.Event()  # the job's last event (done, cancelled or error) is queued
        self._end_lock = threading.Lock()
        self.cancel_deadline_s = CANCEL_DEADLINE_S
        self.finished = False
        self.output: Optional[SegmentOutput] = None
        self.error: Optional[BaseException] = None
        self.info: Dict[str, Any] = {}
        self.result_warnings: List[str] = []  # what the written result was stored with (SDSegModuleLogic.applyResult)
        self.prepare: Optional[Callable[["SegmentationJob"], None]] = None  # once :attr:`info` is known (remote card: slices)
        self.registry: Any = None  # resolves the model for the warm engine's files check (the Slicer logic's registry)
        # set by SDSegModuleLogic.startJob (none of them is read by the job itself)
        self.volumeNodeID = ""  # the input volume node's ID
        self.sliceAxis: Optional[int] = None  # the axis (0 i, 1 j, 2 k) ``options["slices"]`` counts along; None: unknown
        self.timePoint: Any = None  # a sequence's volume: the time point segmented (SDSegLib.time_point), else None
        self.logic: Any = None  # the SDSegModuleLogic that started the job: kept alive (and its engine) while it runs
        # set by the widget (SDSeg.py) when it starts the job
        self.outputNodeIDs: Tuple[Optional[str], ...] = ()  # (segmentation, probability, uncertainty) node IDs or None
        self.outputNodeNames: Tuple[Optional[str], ...] = ()  # their names then (a node deleted meanwhile is named)
        self.cancelPressed = False  # Cancel was pressed (the log says "Cancelling ..." once)

    def start(self) -> "SegmentationJob":
        self._thread = threading.Thread(target=self._run, name="sdseg-job", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask for cancellation (returns at once; a ``cancelled`` event follows).

        The engine confirms between slice batches. If the job has not ended :attr:`cancel_deadline_s`
        seconds later, it ends as cancelled anyway (``data["confirmed"]`` False, the text says the
        engine did not confirm), its connection is shut down and a local engine that does not
        answer a ping is stopped (:mod:`SDSegLib.cancel_deadline`). A result that arrives after the
        cancel (the engine had finished its last batch) is discarded: the job still ends ``cancelled``.
        A job that had already ended is left as it ended.
        """
        if self._cancel.is_set() or self._ended.is_set():
            return
        self._cancel.set()
        start_deadline(self.cancel_deadline_s, self._cancel_overdue)

    def _cancel_overdue(self) -> None:
        """The cancel deadline passed (timer thread): end the job as cancelled unless it ended meanwhile."""
        client = self._client
        text = unconfirmed_text(self.cancel_deadline_s, connected=client is not None)
        if not self._end(JobEvent("cancelled", text=text, data={"confirmed": False})):
            return
        abort_connection(client)  # the worker's blocked read returns; its late outcome is dropped
        if not self.remote_url:
            self.manager.discard_unanswering(probe_s=ENGINE_PROBE_S)

    def _end(self, event: JobEvent, error: Optional[BaseException] = None) -> bool:
        """Queue the job's last event, once: False when the job had already ended (by the cancel deadline)."""
        with self._end_lock:
            if self._ended.is_set():
                return False
            self.output, self.error = event.output, error
            self._events.put(event)
            self._ended.set()
            return True

    def poll(self) -> List[JobEvent]:
        """Drain the events queued since the last call (call from the GUI thread)."""
        events = []
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return events
            if event.kind in ("done", "cancelled", "error"):
                self.finished = True
            events.append(event)

    def wait(self, timeout: Optional[float] = None) -> List[JobEvent]:
        """Block until the job ends (scripts and tests); returns all remaining events."""
        if self._thread is not None:
            self._ended.wait(timeout)
        return self.poll()

    def _run(self) -> None:
        put, progress = self._events.put, ProgressGuard()
        try:
            client = self.manager.client(self.model, self.device, self.remote_url, self.remote_token, self.gpu_kernels,
                                         should_cancel=self._cancel.is_set, registry=self.registry)
            self._client = client
            try:
                self.info = client.info()
                put(JobEvent("info", text=describe_engine(self.info), data=self.info))
                if self.prepare is not None:  # from this info reply, on the job's own connection (remote_card.deferred_slices)
                    self.prepare(self)
                if self._cancel.is_set():
                    raise CancelledError("cancelled before the engine started working")
                output = segment_when_free(  # a busy engine (another run, a cancel not finished) is waited for
                    client, self.image, self.geometry, should_cancel=self._cancel.is_set, job_poll_s=0.1,
                    busy=bool(self.info.get("busy")),
                    on_wait=lambda seconds: put(JobEvent("waiting", text=waiting_text(seconds), data={"seconds": seconds})),
                    on_progress=lambda event: put(JobEvent("progress", data=progress.clean(event))), **self.options,
                )
            finally:
                client.close()
            if self._cancel.is_set():  # the cancel crossed the engine's last frame: still honoured, nothing is written
                self._end(JobEvent("cancelled", text=CROSSED_CANCEL_TEXT, data={"confirmed": True}))
                return
            text = done_text(output.header.get("seconds"))
            if output.warnings:
                text += f" {len(output.warnings)} warning(s): check the result."
            self._end(JobEvent("done", text=text, data={"warnings": list(output.warnings)}, output=output))
        except CancelledError as exc:
            text = OTHER_CLIENT_CANCEL_TEXT if isinstance(exc, CancelledByOtherClientError) else "Cancelled; nothing was written."
            self._end(JobEvent("cancelled", text=text, data={"confirmed": True}))
        except SDSegError as exc:
            if self._ended.is_set():  # ended by the cancel deadline: this is its shut-down connection
                return
            code, text = str(getattr(exc, "code", type(exc).__name__)), str(exc)
            if code == "engine_died" and not self.remote_url:
                self.manager.discard_unanswering()
            if code == "engine_shutdown":  # someone stopped the engine under the job: say so, not "cancelled"
                text = f"{ENGINE_STOPPED_TEXT}\n{getattr(exc, 'message', text)}"
                process = None if self.remote_url else self.manager.process
                if process is not None:
                    process.wait(timeout=10.0)  # it is exiting: the next Segment then starts a new one
            self._end(self._error_event(text, code), exc)
        except Exception as exc:  # noqa: BLE001 - surface every failure in the GUI log
            self._end(self._error_event(f"{type(exc).__name__}: {exc}", "client_error"), exc)

    def _error_event(self, text: str, code: str) -> JobEvent:
        """An ``error`` event; an internal error or a dead local engine carries the engine log's last lines.

        A remote URL quoted in ``text`` (e.g. refused as malformed) is shown without its secrets (:func:`redact_url`).
        """
        url = self.remote_url.strip()
        if url and redact_url(url) != url:
            text = text.replace(url, redact_url(url))
        data: Dict[str, Any] = {"code": code}
        if code in ENGINE_LOG_CODES and not self.remote_url:
            data["log_tail"] = self.manager.log_tail()
        return JobEvent("error", text=text, data=data)
