"""All training processes agree after each step whether to stop, without waiting for the GPU every step.

A run stops early for two reasons: Ctrl-C or SIGTERM reached a process (see :mod:`.interrupt`),
or the wall-clock budget ``train.time_budget_s`` ran out. With several processes (DDP) every one
must stop after the same step, or the ones still stepping wait for the others' gradients for
ever. So each process puts its two flags into one all-reduce per step and all read the same sums.

Reading a device tensor on the host (``.item()``) waits until the device has finished every
kernel queued before it: one such read per step empties the GPU's queue and leaves it idle while
the host prepares the next step. With several processes the vote of step n is therefore read
one step later, after step n+1 was queued: the flags travel to pinned host memory
asynchronously and only that copy's event is awaited, so the GPU keeps one step of work. Every
process reads the same vote at the same step, so they still stop together; a stop takes effect
one step later than with a single process, which reads its own flags at once.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple

import torch

__all__ = ["StopDecision", "StopVote", "budget_cuts_short"]


def budget_cuts_short(step: int, max_steps: int, elapsed_s: float, budget_s: float) -> bool:
    """Whether the time budget ends the run after ``step``: spent, and the step limit not yet reached.

    A budget that runs out at the last step cut nothing short: the run stopped at its step limit,
    and its record and log must say so (``stopped_by_time_budget`` is false).

    Args:
        step: the step just finished (1-based).
        max_steps: the run's step limit.
        elapsed_s: seconds of training counted against the budget.
        budget_s: the budget in seconds; 0 (or None) means none.
    """
    return bool(budget_s) and elapsed_s >= float(budget_s) and step < max_steps


class StopDecision(NamedTuple):
    """What all processes decided after a step.

    Attributes:
        interrupted: some process received Ctrl-C or SIGTERM.
        out_of_time: some process found the time budget spent.
    """

    interrupted: bool
    out_of_time: bool


class StopVote:
    """One all-reduce of (interrupted, out of time) per step; its result read one step later.

    Args:
        accelerator: the run's ``accelerate.Accelerator`` (None or one process: no communication,
            the flags are returned as given).

    Every process must call :meth:`cast` exactly once per step, in the same order.
    """

    def __init__(self, accelerator: Any = None) -> None:
        self.accelerator = accelerator
        self._pending: Optional[Tuple[torch.Tensor, Optional[Any]]] = None

    @property
    def distributed(self) -> bool:
        """Whether several processes vote (and the decision lags one step)."""
        return self.accelerator is not None and self.accelerator.num_processes > 1

    def cast(self, interrupted: bool, out_of_time: bool) -> StopDecision:
        """This process's flags for the step just queued; returns the decision to act on now.

        Args:
            interrupted: this process received Ctrl-C or SIGTERM.
            out_of_time: this process found the time budget spent.

        Returns:
            A single process: its own flags. Several: the sums of the previous step's votes
            (nothing to stop for at the first step), the same on every process.
        """
        if not self.distributed:
            return StopDecision(bool(interrupted), bool(out_of_time))
        import torch.distributed as dist

        device = self.accelerator.device
        flags = torch.tensor([float(interrupted), float(out_of_time)], device=device)
        dist.all_reduce(flags)  # queued behind this step's work on the device
        if device.type == "cuda":
            host = torch.empty(2, dtype=flags.dtype, pin_memory=True)
            host.copy_(flags, non_blocking=True)
            ready = torch.cuda.Event()
            ready.record()
        else:
            host, ready = flags, None
        previous, self._pending = self._pending, (host, ready)
        if previous is None:
            return StopDecision(False, False)
        votes, event = previous
        if event is not None:
            event.synchronize()  # the previous step's copy; this step's kernels keep the GPU busy
        return StopDecision(bool(votes[0] > 0), bool(votes[1] > 0))
