"""Run blocking work off the GUI thread while the GUI keeps drawing and answering (no Qt, no Slicer).

A model zip import may wait, with no time limit, for another import of the same model (another
Slicer, or ``sdseg models import`` in a terminal: :mod:`SDSegLogic.model_cache_lock`). Run in the
GUI thread, that wait froze Slicer without a word. :func:`run_keeping_gui_alive` runs the work in a
worker thread and, until it ends, calls ``pump`` (process Qt events, show what the work reported)
in the GUI thread every ``poll_s`` seconds. A callable of the work that must run in the GUI thread
(a question in a dialog) is wrapped with :meth:`GuiCalls.wrap`: the worker waits while the GUI
thread runs it between two pumps.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Dict, Optional, TypeVar

__all__ = ["GuiCalls", "run_keeping_gui_alive", "POLL_S"]

POLL_S = 0.05
"""Seconds between two calls of ``pump`` while the work runs."""

T = TypeVar("T")


class GuiCalls:
    """Calls the worker hands to the GUI thread, served by :func:`run_keeping_gui_alive`."""

    def __init__(self) -> None:
        self._calls: "queue.Queue[tuple]" = queue.Queue()

    def wrap(self, function: Callable[..., T]) -> Callable[..., T]:
        """``function`` made callable from the worker: it runs in the GUI thread; its result or error comes back."""
        def in_gui_thread(*args: Any, **kwargs: Any) -> T:
            done, box = threading.Event(), {}
            self._calls.put((function, args, kwargs, box, done))
            done.wait()
            if "error" in box:
                raise box["error"]
            return box["value"]
        return in_gui_thread

    def serve(self) -> None:
        """Run the calls waiting (GUI thread)."""
        while True:
            try:
                function, args, kwargs, box, done = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                box["value"] = function(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed back to the worker, which raises it
                box["error"] = exc
            finally:
                done.set()


def run_keeping_gui_alive(work: Callable[[], T], pump: Callable[[], None], calls: Optional[GuiCalls] = None,
                          poll_s: float = POLL_S) -> T:
    """``work()`` run in a worker thread; the GUI thread pumps events until it ends.

    Args:
        work: the blocking work; it must touch no widget (report through a thread-safe queue).
        pump: called in the GUI thread about every ``poll_s`` seconds while ``work`` runs (e.g.
            ``qt.QApplication.processEvents`` and showing what ``work`` queued).
        calls: the :class:`GuiCalls` whose wrapped callables ``work`` uses, served between pumps.
        poll_s: seconds between two pumps.

    Returns:
        What ``work`` returned.

    Raises:
        Exception: what ``work`` raised, re-raised in the GUI thread.
    """
    outcome: Dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the GUI thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="sdseg-gui-wait", daemon=True)
    worker.start()
    while worker.is_alive():
        if calls is not None:
            calls.serve()
        pump()
        worker.join(poll_s)
    pump()  # what the work reported last
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
