"""Start and stop a local engine process (``python -m SDSegLogic.server``) with a private token.

Used by :class:`SDSegLogic.server.client.EngineClient` users that want their own engine, such as
the Slicer module (with ``PythonSlicer`` as the interpreter) and the tests. :func:`remove_private_dir`
is also what the engine itself uses to delete its private directory when its parent is gone.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Union

from ..errors import CancelledError, SDSegError
from .client_types import EngineDiedError
from .engine_options import client_address
from .log_tail import log_tail_text

if TYPE_CHECKING:  # pragma: no cover - client.py imports this module at its end: importing it here would be circular
    from .client import EngineClient

__all__ = ["EngineProcess", "PRIVATE_DIR_FILES", "ready_event", "remove_private_dir"]

PRIVATE_DIR_FILES = ("token", "engine.log")
"""The files :meth:`EngineProcess.start` may put in an engine's private directory (the token, the default log)."""


class EngineProcess:
    """A local engine child process (``python -m SDSegLogic.server``) and its token.

    Use :meth:`start`; the token lives in a fresh private directory (0700) as a 0600 file and is
    never put on the command line. The child watches its stdin and exits if this process dies; it
    then deletes that directory itself (``--private-dir``), since :meth:`stop` never will.
    """

    def __init__(self, popen: subprocess.Popen, host: str, port: int, token: str, token_dir: Path, ready: Dict[str, Any],
                 log_path: Path) -> None:
        self.popen, self.host, self.port, self.token = popen, host, port, token
        self.token_dir, self.ready, self.log_path = token_dir, ready, log_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @classmethod
    def start(cls, model: Union[str, Path], device: str = "auto", *, python: Optional[str] = None,
              extra_args: Sequence[str] = (), env: Optional[Dict[str, str]] = None, ready_timeout: float = 300.0,
              cwd: Optional[Union[str, Path]] = None,
              should_cancel: Optional[Callable[[], bool]] = None,
              log_path: Optional[Union[str, Path]] = None) -> "EngineProcess":
        """Launch an engine and wait until it listens.

        Args:
            model: model id or model folder.
            device: ``auto``, ``cpu``, ``cuda``...
            python: interpreter to use (``sys.executable`` by default; ``PythonSlicer`` in Slicer).
            extra_args: more engine arguments, e.g. ``["--max-request-bytes", "1000000"]``.
            env: extra environment variables for the child.
            ready_timeout: seconds to wait for the ``ready`` line (model loading included).
            should_cancel: polled while waiting (every 50 ms); when it returns True the child is
                stopped (terminate, then kill after 5 s) and :class:`CancelledError` is raised.
            log_path: file the engine's log (stderr) is appended to; the caller owns it and
                :meth:`stop` keeps it (a GUI keeps one log across engine restarts). Default: a file
                in the private directory, removed by :meth:`stop` with the token.

        Raises:
            EngineDiedError: the child could not be started, exited, or did not become ready in
                time (its log is quoted). The private directory (token, default log) is removed.
            CancelledError: ``should_cancel`` asked to stop before the engine was ready.
        """
        token_dir = Path(tempfile.mkdtemp(prefix="sdseg-engine-"))
        token = secrets.token_urlsafe(32)
        token_file = token_dir / "token"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        log_path = Path(log_path) if log_path is not None else token_dir / "engine.log"
        package_root = str(Path(__file__).resolve().parents[2])
        child_env = dict(os.environ)
        child_env["PYTHONPATH"] = package_root + os.pathsep + child_env.get("PYTHONPATH", "")
        child_env.update(env or {})
        # "--model=VALUE": a separate value starting with "-" (a folder named "-tiny") was read as an option (exit code 2)
        args = [python or sys.executable, "-m", "SDSegLogic.server", f"--model={model}", f"--device={device}",
                "--token-file", str(token_file), "--watch-stdin", "--private-dir", str(token_dir), *extra_args]
        try:
            with open(log_path, "ab") as log_handle:
                popen = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_handle,
                                         env=child_env, cwd=None if cwd is None else str(cwd))
        except OSError as exc:  # no such interpreter, an unwritable log file...
            remove_private_dir(token_dir)
            raise EngineDiedError("engine_died", f"cannot start the SDSeg engine with {args[0]!r}: {exc}. "
                                  "Check the Python interpreter (and that the engine log file can be written).") from None
        try:
            ready = cls._wait_ready(popen, ready_timeout, log_path, should_cancel)
            # an engine listening on a wildcard (0.0.0.0, ::) is reached here through loopback, not through the wildcard
            host = client_address(str(ready.get("host") or "127.0.0.1"))
            return cls(popen, host, int(ready["port"]), token, token_dir, ready, log_path)
        except BaseException:  # the engine is gone (or stopped by _wait_ready): leave nothing behind
            if popen.poll() is None:
                popen.kill()
                popen.wait()
            for stream in (popen.stdout, popen.stdin):
                if stream is not None:
                    stream.close()
            remove_private_dir(token_dir)
            raise

    @staticmethod
    def _wait_ready(popen: subprocess.Popen, timeout: float, log_path: Path,
                    should_cancel: Optional[Callable[[], bool]] = None) -> Dict[str, Any]:
        box: List[Dict[str, Any]] = []

        def reader() -> None:
            for raw in popen.stdout:  # type: ignore[union-attr]
                event = ready_event(raw.decode("utf-8", "replace"))
                if event is not None:
                    box.append(event)
                    return

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not box and time.monotonic() < deadline and popen.poll() is None:
            if should_cancel is not None and should_cancel():
                popen.terminate()
                try:
                    popen.wait(5.0)
                except subprocess.TimeoutExpired:
                    popen.kill()
                    popen.wait()
                raise CancelledError(f"cancelled while the SDSeg engine (pid {popen.pid}) was starting; it was stopped.")
            thread.join(0.05)
        if box:
            return box[0]
        code = popen.poll()
        if code is None:
            popen.kill()
            popen.wait()
        tail = _tail(log_path)
        why = f"exited with code {code}" if code is not None else f"was not ready after {timeout:g} s and was stopped"
        # the first line stands alone (a status line shows only it): what the engine said last, usually why it stopped
        said = [line.strip() for line in tail.splitlines() if line.strip() and not line.startswith("----")]
        said = [line for line in said if line not in ("(no engine log)", "(engine log is empty)")]
        last = f"; its last log line: {said[-1].rstrip('.')}" if said else ""
        raise EngineDiedError("engine_died", f"the SDSeg engine (pid {popen.pid}) {why}{last}.\n"
                                             f"Engine log (last lines):\n{tail}")

    def client(self, timeout: float = 10.0) -> "EngineClient":
        """A new, connected client for this engine."""
        from .client import EngineClient

        return EngineClient(self.host, self.port, self.token, timeout=timeout, process=self).connect()

    def poll(self) -> Optional[int]:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the engine's log; ``""`` when it has none (empty, or no file)."""
        tail = _tail(self.log_path, lines)
        return "" if tail in ("(no engine log)", "(engine log is empty)") else tail

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """Ask the engine to shut down; kill it if it does not exit within ``timeout``.

        The request goes over a new connection; when that cannot be had (every connection the
        engine allows is taken, it does not answer), SIGTERM asks the same of the process (on
        Windows it ends it). Either way a running job's client hears ``engine_shutdown``, where a
        refused request used to be followed by a kill after ``timeout`` seconds.
        """
        if self.alive():
            from .client import EngineClient

            try:
                EngineClient(self.host, self.port, self.token, timeout=2.0).connect().shutdown()
            except (SDSegError, OSError):
                if self.alive():
                    self.popen.terminate()
            if self.wait(timeout) is None:
                self.popen.kill()
                self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        remove_private_dir(self.token_dir)
        return self.popen.returncode

    def __enter__(self) -> "EngineProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def ready_event(line: str) -> Optional[Dict[str, Any]]:
    """The ``ready`` event (PROTOCOL.md, "Startup contract") that ends one line of the engine's stdout, else None.

    Before that line stdout is the engine's own, so a library may have printed text without ending
    its line (``print("loading", end="")``, a ``\\r`` progress bar, a C library writing to descriptor
    1): the line is then ``loading{"event": "ready", ...}``. Read as one JSON text it was skipped as
    noise, and a serving engine was killed as "not ready" after ``ready_timeout``. So the JSON object
    that ends the line is found from its right end (the last ``{`` that starts an object running to
    the end is the event's own, or one nested in it).
    """
    text = line.rstrip()
    decoder = json.JSONDecoder()
    start = text.rfind("{")
    while start >= 0:
        try:
            event, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            event, end = None, -1
        if end == len(text) and isinstance(event, dict) and event.get("event") == "ready":
            return event
        start = text.rfind("{", 0, start)
    return None


def remove_private_dir(token_dir: Path) -> None:
    """Delete an engine's token file, its default log and their private directory (what exists of them).

    Only the files of :data:`PRIVATE_DIR_FILES` are deleted; a directory that holds anything else is kept.
    """
    for name in PRIVATE_DIR_FILES:
        (token_dir / name).unlink(missing_ok=True)
    try:
        token_dir.rmdir()
    except OSError:
        pass


def _tail(path: Path, lines: int = 15) -> str:
    """The log's last lines, read from its end (a session log grows across restarts)."""
    text = log_tail_text(path, lines)
    if text is None:
        return "(no engine log)"
    return text or "(engine log is empty)"
