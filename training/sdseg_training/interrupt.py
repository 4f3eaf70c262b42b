"""Ctrl-C or SIGTERM during training: finish the current step, save a resumable checkpoint, then stop.

A KeyboardInterrupt raised in the middle of an optimizer step would leave the weights, the
optimizer, the EMA and the step counter out of step with one another, so no checkpoint could be
saved from there. :class:`DeferredInterrupt` therefore replaces Python's SIGINT handler while the
training loop runs: the first Ctrl-C only sets :attr:`DeferredInterrupt.requested`, which the
loop reads after each step (then it saves and raises :class:`~.errors.TrainingInterrupted`); a
second Ctrl-C raises ``KeyboardInterrupt`` at once, without a new checkpoint (those already
written stay complete: they are written atomically).

Under ``accelerate launch`` (torch elastic) the workers run in their own session; the launcher
passes one SIGINT on to each of them and kills them 30 s later, so the step plus the checkpoint
must fit in that time. The processes agree on the step to stop at through :class:`.stop_vote.StopVote`.

SIGTERM, which batch schedulers (SLURM pre-emption, a job's time limit, ``kill``) send before they
kill a job, is handled the same way, so a pre-empted run can be resumed from the step it reached;
SLURM's default grace period (KillWait) is 30 s as well.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable, Optional

__all__ = ["DeferredInterrupt"]


#: The signals deferred: Ctrl-C and the scheduler's polite stop.
DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class DeferredInterrupt:
    """Context manager: defer the first Ctrl-C (SIGINT) or SIGTERM to a point the loop chooses.

    Args:
        notice: called once with a line for the user when the first Ctrl-C arrives (None: silent).
        what: what is finished before stopping, for that line (e.g. ``"step 12"``).

    Outside the main thread (where Python delivers no signals) it does nothing.
    """

    def __init__(self, notice: Optional[Callable[[str], None]] = None, what: str = "the current step") -> None:
        self.notice = notice
        self.what = what
        self.requested = False
        self.signal_name: Optional[str] = None  # "SIGINT" or "SIGTERM", once one arrived
        self._previous: dict = {}
        self._installed = False

    def __enter__(self) -> "DeferredInterrupt":
        if threading.current_thread() is threading.main_thread():
            for signum in DEFERRED_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc) -> bool:
        if self._installed:
            for signum, previous in self._previous.items():
                fallback = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
                signal.signal(signum, previous if previous is not None else fallback)
            self._previous = {}
            self._installed = False
        return False

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt  # the second signal: stop now, without a new checkpoint
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        if self.notice is not None:
            what = "interrupt" if signum == signal.SIGINT else f"{self.signal_name} (a request to stop)"
            self.notice(f"{what} received: finishing {self.what}, then saving a checkpoint to resume from "
                        "(press Ctrl-C again to stop at once, without it).")
