"""How the engine process answers SIGTERM and Ctrl-C, from the launcher's first line to its exit.

Two phases (PROTOCOL.md, "Startup contract": exit code 0 after SIGTERM or Ctrl-C, with one line):

* *starting and loading* (:func:`stop_start_on_sigterm`): from the launcher's first lines
  (:mod:`SDSegLogic.server.__main__`, before NumPy and the engine's modules are imported) through
  ``main`` (reading the token, which may wait on stdin; opening the socket; importing torch; loading
  the model) SIGTERM raises :class:`StartInterrupted`, as Ctrl-C raises ``KeyboardInterrupt``; the
  launcher and ``main`` catch both and print one line (:func:`start_interrupted_text`). SIGTERM used
  to end the engine by the signal's default action there (exit code 143, no message), and Ctrl-C
  while the modules were imported was a traceback. Only a signal before the interpreter runs the
  package's first line (its own start-up, some 20 ms) still takes the default action;
* *serving* (:func:`stop_on_signals`): both stop the server as a ``shutdown`` request does, so a
  running job's client hears ``engine_shutdown``; a second Ctrl-C interrupts the wait for the job at once
  (``main`` turns that ``KeyboardInterrupt`` into one line and a shutdown that does not wait).
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable, List

__all__ = ["StartInterrupted", "stop_start_on_sigterm", "stop_on_signals", "interrupt_name", "start_interrupted_text"]


class StartInterrupted(BaseException):
    """SIGTERM before the engine serves: raised by the handler, caught by ``main`` (not an ``Exception``,
    so that no ``except Exception`` on the way out of the token read or the model load can swallow it)."""



def interrupt_name(exc: BaseException) -> str:
    """``SIGTERM`` for :class:`StartInterrupted`, ``Ctrl-C`` for ``KeyboardInterrupt`` (the one line says which)."""
    return "SIGTERM" if isinstance(exc, StartInterrupted) else "Ctrl-C"


def start_interrupted_text(exc: BaseException, what: str = "while starting") -> str:
    """The one stderr line for a Ctrl-C or SIGTERM before the engine serves; ``what`` says when it came."""
    return f"sdseg-engine: interrupted ({interrupt_name(exc)}) {what}; not serving."


def _interrupt(signum: int, frame: Any) -> None:
    raise StartInterrupted(signum)


def stop_start_on_sigterm() -> Callable[[], None]:
    """Until the returned function is called, SIGTERM raises :class:`StartInterrupted` (as Ctrl-C raises KeyboardInterrupt).

    The returned function puts back the handler from before the start phase only when
    :func:`stop_on_signals` has not replaced this one (a start that failed or was interrupted). A
    call while the start phase is on already (the launcher began it, then ``main`` is called) joins
    it: both returned functions put back that same earlier handler, and the first call ends the phase.
    Nothing happens outside the main thread (``signal.signal`` works only there) or when SIGTERM is
    ignored (``nohup``-like launchers).
    """
    sigterm = getattr(signal, "SIGTERM", None)
    if sigterm is None or threading.current_thread() is not threading.main_thread() or signal.getsignal(sigterm) is signal.SIG_IGN:
        return lambda: None
    current = signal.getsignal(sigterm)
    previous = _before_start[-1] if current is _interrupt and _before_start else current
    if current is not _interrupt:
        _before_start[:] = [signal.signal(sigterm, _interrupt)]

    def restore() -> None:
        if signal.getsignal(sigterm) is _interrupt:
            signal.signal(sigterm, previous)

    return restore


_before_start: List[Any] = []
"""The SIGTERM handler :func:`stop_start_on_sigterm` replaced last (for a call that joins its start phase)."""


def stop_on_signals(stop: Callable[[str], None]) -> None:
    """SIGTERM and Ctrl-C call ``stop("signal")`` (``EngineServer.stop``); a second Ctrl-C raises KeyboardInterrupt.

    Without this, SIGTERM ended the process at once: a running job's client saw a broken connection.
    """
    received: List[int] = []

    def handle(signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and received:
            raise KeyboardInterrupt  # asked twice: stop waiting for the job and the connections
        received.append(signum)
        stop("signal")  # no logging here: a handler may interrupt a log write; the job's log line says "signal"

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
            if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:  # e.g. a background job's SIGINT stays ignored
                signal.signal(sig, handle)
