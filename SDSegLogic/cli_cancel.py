"""Ctrl-C (SIGINT) and SIGTERM in ``sdseg segment``: cancel between steps, never in the middle of a rename.

:class:`CancelFlag` turns the first SIGINT or SIGTERM (one not ignored) into a request that the run checks between
its steps (before each input, before each network call of a batch: every noise sample and DDIM
step, before writing); a second Ctrl-C interrupts at once
(``KeyboardInterrupt``). :func:`interrupts_deferred` holds Ctrl-C back for the instant in which the
outputs of one input are renamed into place, so that an interrupt never leaves some of them new
and the others old. Standard library only.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Dict, Iterator, List

from .errors import CancelledError

__all__ = ["CancelFlag", "interrupts_deferred"]


def _main_thread() -> bool:
    """Signal handlers can only be set from the main thread."""
    return threading.current_thread() is threading.main_thread()


class CancelFlag:
    """Set by SIGINT/SIGTERM while the ``with`` block runs; a second Ctrl-C interrupts at once (KeyboardInterrupt).

    Calling the flag returns whether cancelling was asked for (the ``should_cancel`` of
    :func:`SDSegLogic.segment.segment_array`).
    """

    def __init__(self) -> None:
        self.cancelled = False
        self._previous: Dict[int, object] = {}

    def __call__(self) -> bool:
        return self.cancelled

    def _handle(self, signum, frame) -> None:
        self.cancelled = True
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self) -> "CancelFlag":
        if _main_thread():
            for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
                # an ignored signal stays ignored: a script's background "sdseg segment ... &" starts with SIGINT
                # ignored, so that a Ctrl-C meant for the script's foreground command does not cancel it
                if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def check(self, what: str = "the current volume was not written") -> None:
        """Raise :class:`CancelledError` if cancelling was asked for; ``what`` says what became of the work."""
        if self.cancelled:
            raise CancelledError(f"cancelled by the user (SIGINT/SIGTERM); {what}.")


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back while the block runs, then deliver it to the handler in force.

    For a short step that must not be cut in two (renaming the staged outputs of one input into
    place): a Ctrl-C meanwhile is handled when the block ends, as if it came just after it (each
    press once, in order). Outside the main thread, or when the SIGINT handler was not set from
    Python, the block runs unprotected.
    """
    if not _main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    pending: List[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        for _ in pending:
            handler = signal.getsignal(signal.SIGINT)
            if callable(handler):
                handler(signal.SIGINT, None)
            elif handler != signal.SIG_IGN:
                signal.raise_signal(signal.SIGINT)  # the default action
