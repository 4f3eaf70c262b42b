"""Run segmentations in the engine process without blocking Slicer (no Qt in this file).

* :class:`EngineManager` keeps one local engine process warm per (model, device) and restarts
  it when it died or the model's files changed (a zip imported over the loaded model, a newer
  version of its id: :func:`~SDSegLib.model_library.model_files_signature`); or targets a remote
  engine given as URL + token. Every local engine of a manager appends its log to one session
  file (:attr:`EngineManager.log_path`), kept across restarts and deleted by
  :meth:`EngineManager.close` (module cleanup) or at interpreter exit.
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

import queue
import shutil
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from SDSegLogic.compile_policy import COMPILE_POLICIES
from SDSegLogic.errors import CancelledError, SDSegError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import CancelledByOtherClientError, EngineClient, EngineProcess, SegmentOutput
from SDSegLogic.server.log_tail import log_tail_text

from .busy_wait import segment_when_free
from .cancel_deadline import CANCEL_DEADLINE_S, ENGINE_PROBE_S, abort_connection, engine_answers, start_deadline, unconfirmed_text
from .diagnostics import describe_engine, redact_url  # describe_engine: public here too (the panel's device line)
from .model_library import model_files_signature
from .progress_guard import ProgressGuard

__all__ = ["find_python", "describe_engine", "read_log_tail", "EngineManager", "JobEvent", "SegmentationJob",
           "GPU_KERNEL_CHOICES", "ENGINE_LOG_CODES", "ENGINE_STOPPED_TEXT"]

GPU_KERNEL_CHOICES = COMPILE_POLICIES
"""The engine's ``--compile`` policies: use cached compiled kernels / build them when missing / eager."""

ENGINE_READY_TIMEOUT_S = 300.0
"""Seconds to wait for a local engine to load its model."""

KERNEL_BUILD_READY_TIMEOUT_S = 3600.0
"""Seconds to wait when the engine first builds compiled kernels (the paper model: minutes per network)."""

ENGINE_LOG_CODES = ("internal_error", "engine_died")
"""Error codes whose explanation is in the engine log: a failed job then carries its last lines."""

def waiting_text(seconds: float) -> str:
    """The panel's line while the engine finishes another run (``waiting`` events)."""
    return f"The engine is busy with another run; waiting for it ({seconds:.0f} s). Cancel stops waiting."


OTHER_CLIENT_CANCEL_TEXT = "Cancelled by another client of the engine, not from this panel; nothing was written."
"""The ``cancelled`` event's text when a ``cancel`` sent on another connection (a script, a colleague) stopped the job."""

ENGINE_STOPPED_TEXT = "The engine was stopped while segmenting; nothing was written. Run Segment again."
"""First line of the ``engine_shutdown`` error: the engine was shut down under the job (not the user's Cancel)."""

LOG_TAIL_LINES = 20
"""Engine log lines attached to an error and to the diagnostics."""


def read_log_tail(path: Optional[Path], lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file, or ``""`` when there is none (yet)."""
    if path is None:
        return ""
    return log_tail_text(path, lines) or ""  # read from the end: the session log grows with every restart


def find_python() -> str:
    """The interpreter for the engine: ``PythonSlicer`` inside Slicer, else this interpreter."""
    exe = Path(sys.executable)
    for candidate in (exe.with_name("PythonSlicer"), exe.with_name("PythonSlicer.exe"), exe.parent.parent / "bin" / "PythonSlicer"):
        if candidate.is_file():
            return str(candidate)
    return shutil.which("PythonSlicer") or sys.executable


class EngineManager:
    """Owns the local engine process(es) of the module.

    Args:
        python: interpreter for ``python -m SDSegLogic.server`` (default :func:`find_python`).
        log: receives human-readable lines (called from worker threads: it must be thread-safe,
            e.g. ``queue.put`` or ``print``).
        extra_args: more engine arguments (tests pass limits here).
        heartbeat_s: a local engine silent this long during a job is pinged; one that does not
            answer within the client timeout is reported hung (``engine_died``), and
            :meth:`discard_unanswering` stops it so that the next job starts a new one.
    """

    def __init__(self, python: Optional[str] = None, log: Callable[[str], None] = print, extra_args: Tuple[str, ...] = (),
                 heartbeat_s: float = 30.0) -> None:
        self.python = python or find_python()
        self.log = log
        self.extra_args = tuple(extra_args)
        self.heartbeat_s = float(heartbeat_s)
        self._lock = threading.Lock()
        self._process: Optional[EngineProcess] = None
        self._key: Optional[Tuple[str, str]] = None
        self.log_path: Optional[Path] = None  # the session log, created by the first local start

    def _session_log(self) -> Path:
        """The session's engine log file (created on first use; removed by :meth:`close` or at exit)."""
        if self.log_path is None:
            folder = Path(tempfile.mkdtemp(prefix="sdseg-slicer-log-"))
            self.log_path = folder / "engine.log"
            self._remove_log = weakref.finalize(self, shutil.rmtree, str(folder), True)
        return self.log_path

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the session's engine log (``""`` before the first local engine)."""
        return read_log_tail(self.log_path, lines)

    def client(self, model: str, device: str = "auto", remote_url: str = "", remote_token: str = "",
               gpu_kernels: str = "auto", should_cancel: Optional[Callable[[], bool]] = None,
               registry: Any = None) -> EngineClient:
        """A connected client: to the remote engine when a URL is given, else to a (re)started local one.

        Args:
            model: registry id or model folder.
            device: ``auto``, ``cuda`` or ``cpu``.
            remote_url, remote_token: a remote engine (its own start-up options apply).
            gpu_kernels: the local engine's ``--compile`` policy, one of :data:`GPU_KERNEL_CHOICES`;
                ``aot`` builds missing kernels once (in a child process; minutes for the paper
                model), so the engine may take that long to become ready the first time.
            should_cancel: polled while a local engine starts; True stops it (CancelledError).
            registry: resolves ``model`` for :func:`model_files_signature` (the Slicer logic's); None: the default.

        Raises:
            SDSegError: an unknown ``gpu_kernels`` value or a remote URL without its token.
            CancelledError: ``should_cancel`` returned True while the engine was starting.
        """
        if gpu_kernels not in GPU_KERNEL_CHOICES:
            raise SDSegError(f"GPU kernels setting {gpu_kernels!r} is unknown; choose one of {', '.join(GPU_KERNEL_CHOICES)}.")
        if remote_url:
            if not remote_token:
                raise SDSegError("a remote engine needs its token; paste it next to the URL in the Advanced section.")
            self.log(f"Connecting to the remote engine {redact_url(remote_url)} ...")  # no password or token in the log
            return EngineClient.from_url(remote_url, remote_token).connect()
        with self._lock:
            key = (str(model), str(device), gpu_kernels, model_files_signature(str(model), registry))
            if self._process is not None and (self._key != key or not self._process.alive()):
                if not self._process.alive():
                    tail = self.log_tail()
                    self.log(f"The engine process exited (code {self._process.poll()}); starting a new one. "
                             + (f"Last engine log lines:\n{tail}" if tail else "Its log is empty."))
                elif self._key is not None and self._key[:3] == key[:3]:  # same choice, other files: don't run stale weights
                    self.log(f"The files of model {model} changed since the engine loaded them (imported or replaced); "
                             "restarting the engine to load them.")
                self._process.stop()
                self._process = None
            if self._process is None:
                self.log(f"Starting the SDSeg engine (model {model}, device {device}); the first start loads the model ...")
                if gpu_kernels == "aot":
                    self.log("Compiled kernels missing for this model, precision and device are built first; "
                             "this takes minutes once and is cached for later starts.")
                log_path = self._session_log()
                with open(log_path, "a", encoding="utf-8") as handle:
                    handle.write(f"---- {time.strftime('%Y-%m-%d %H:%M:%S')} starting the engine: model {model}, "
                                 f"device {device}, GPU kernels {gpu_kernels} ----\n")
                self._process = EngineProcess.start(
                    model, device, python=self.python, extra_args=(*self.extra_args, "--compile", gpu_kernels),
                    ready_timeout=KERNEL_BUILD_READY_TIMEOUT_S if gpu_kernels == "aot" else ENGINE_READY_TIMEOUT_S,
                    should_cancel=should_cancel, log_path=log_path)
                self._key = key
                self.log(f"Engine ready (pid {self._process.pid}, device {self._process.ready.get('device')}).")
            process = self._process
        client = process.client()
        client.heartbeat_s = self.heartbeat_s
        return client

    def discard_unanswering(self, probe_s: Optional[float] = None) -> bool:
        """Stop the local engine if it still runs after a job found it not answering.

        A hung process (a stuck driver call, a stopped process) would otherwise be reused by every
        later Segment, each failing the same way; an engine that exited is restarted by
        :meth:`client` anyway.

        Args:
            probe_s: first ping the engine on a new connection and keep it when it answers within
                this many seconds (after a cancel it did not confirm: it may only be busy). A
                Segment meanwhile waits for the verdict instead of reusing a hung engine.

        Returns:
            True when a running engine was stopped.
        """
        with self._lock:
            process = self._process
            if process is None or not process.alive():
                return False
            if probe_s is not None and engine_answers(process, probe_s):
                return False
            self.log(f"The engine (pid {process.pid}) is running but not answering; stopping it. "
                     "The next Segment starts a new one.")
            process.stop(timeout=2.0)
            self._process = None
            return True

    @property
    def process(self) -> Optional[EngineProcess]:
        return self._process

    def stop(self) -> None:
        """Shut the local engine down (the model is unloaded); the session log is kept."""
        with self._lock:
            if self._process is not None:
                self._process.stop()
                self._process = None

    def close(self) -> None:
        """Shut the engine down and delete the session log (module cleanup)."""
        self.stop()
        if self.log_path is not None:
            self._remove_log()
            self.log_path = None


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

    def start(self) -> "SegmentationJob":
        self._thread = threading.Thread(target=self._run, name="sdseg-job", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask for cancellation (returns at once; a ``cancelled`` event follows).

        The engine confirms between slice batches. If the job has not ended :attr:`cancel_deadline_s`
        seconds later, it ends as cancelled anyway (``data["confirmed"]`` False, the text says the
        engine did not confirm), its connection is shut down and a local engine that does not
        answer a ping is stopped (:mod:`SDSegLib.cancel_deadline`).
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
            text = f"Segmented in {output.header.get('seconds', 0):.1f} s."
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
