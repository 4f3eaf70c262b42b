"""The module's local engine process: start it, keep it warm, restart it, stop it (no Qt in this file).

:class:`EngineManager` keeps one local engine process warm per (model, device) and restarts it
when it died or the model's files changed (a zip imported over the loaded model, a newer version
of its id: :func:`~SDSegLib.model_library.model_files_signature`); or targets a remote engine given
as URL + token. Every local engine of a manager appends its log to one session file
(:attr:`EngineManager.log_path`), kept across restarts and deleted by :meth:`EngineManager.close`
(module cleanup) or at interpreter exit. Re-exported by :mod:`SDSegLib.engine_runner`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

from SDSegLogic.compile_policy import COMPILE_POLICIES
from SDSegLogic.device import device_spelling
from SDSegLogic.errors import SDSegError
from SDSegLogic.server.client import EngineClient, EngineProcess
from SDSegLogic.server.log_tail import log_tail_text

from .cancel_deadline import engine_answers
from .diagnostics import redact_url
from .model_library import model_files_signature

__all__ = ["find_python", "read_log_tail", "registry_args", "EngineManager", "GPU_KERNEL_CHOICES", "ENGINE_READY_TIMEOUT_S",
           "KERNEL_BUILD_READY_TIMEOUT_S", "LOG_TAIL_LINES"]

GPU_KERNEL_CHOICES = COMPILE_POLICIES
"""The engine's ``--compile`` policies: use cached compiled kernels / build them when missing / eager."""

ENGINE_READY_TIMEOUT_S = 300.0
"""Seconds to wait for a local engine to load its model."""

KERNEL_BUILD_READY_TIMEOUT_S = 3600.0
"""Seconds to wait when the engine first builds compiled kernels (the paper model: minutes per network)."""

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


def registry_args(registry: Any) -> Tuple[str, ...]:
    """The engine's ``--registry`` for the registry a model was resolved with here; ``()`` for None (the default).

    The engine process resolved ``--model`` with ``$SDSEG_REGISTRY`` / the default registry: a
    model only the Slicer logic's registry lists (a site registry given to it), or one it finds
    in the models folder while the registry file is unreadable (it then holds an empty registry),
    was listed in the panel but the engine exited "cannot load model". ``--registry ""`` is no registry file.
    """
    if registry is None:
        return ()
    path = getattr(registry, "path", None)
    return (f"--registry={'' if path is None else Path(path).resolve()}",)  # one argument: a value is never read as an option


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
        self._key: Optional[Tuple[Any, ...]] = None  # (model, device, gpu_kernels, model_files_signature) of the warm engine
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
            device: ``auto``, ``cuda``, ``cuda:N``, ``cpu`` or ``mps``, in any letter case and with blanks
                around (compared and passed to the engine as :func:`SDSegLogic.device.device_spelling` spells it).
            remote_url, remote_token: a remote engine (its own start-up options apply).
            gpu_kernels: the local engine's ``--compile`` policy, one of :data:`GPU_KERNEL_CHOICES`;
                ``aot`` builds missing kernels once (in a child process; minutes for the paper
                model), so the engine may take that long to become ready the first time.
            should_cancel: polled while a local engine starts; True stops it (CancelledError).
            registry: resolves ``model`` (the Slicer logic's): for :func:`model_files_signature` and, as
                ``--registry`` (:func:`registry_args`), for a local engine started now; None: the default.

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
        device = device_spelling(str(device))  # "CPU" is "cpu": a warm engine is kept, not restarted for the spelling
        with self._lock:
            key = (str(model), device, gpu_kernels, model_files_signature(str(model), registry))
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
                    model, device, python=self.python,
                    extra_args=(*self.extra_args, *registry_args(registry), "--compile", gpu_kernels),
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
        """The local engine process (None before the first local start, after :meth:`stop` or a discard)."""
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
