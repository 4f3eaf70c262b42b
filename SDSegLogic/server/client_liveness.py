"""Whether the engine is still alive during a client's ``segment`` job, from the times its frames came (no sockets here).

A job may run for minutes between two frames (a long slice batch), so silence alone proves
nothing. :class:`JobLiveness` says when a silent engine is to be pinged (after ``heartbeat_s``
seconds without a frame) and when the silence means it is gone (the ping went unanswered for
``timeout_s`` seconds); :class:`SDSegLogic.server.client.EngineClient` sends the ping and reports
the dead engine.
"""

from __future__ import annotations

from typing import Optional

from .engine import seconds_text

__all__ = ["JobLiveness"]


class JobLiveness:
    """The liveness clock of one running job.

    Args:
        heartbeat_s: seconds without any frame after which the engine is pinged.
        timeout_s: seconds a ping has to be answered (by any frame).
        now: ``time.monotonic()`` when the job's request went out.
    """

    def __init__(self, heartbeat_s: float, timeout_s: float, now: float) -> None:
        self.heartbeat_s, self.timeout_s = heartbeat_s, timeout_s
        self.heard = now  # when the last frame came (or the request went out)
        self.pinged: Optional[float] = None  # when the pending ping went out; None: none pending

    def heard_from(self, now: float) -> None:
        """A frame came at ``now``: the engine is alive, and a pending ping is answered."""
        self.heard, self.pinged = now, None

    def step(self, now: float) -> str:
        """What to do at ``now`` after a wait without frames.

        Returns:
            ``"ping"``: send one now (from now on it counts as pending); ``"dead"``: the pending
            ping went unanswered for ``timeout_s``; ``"wait"``: nothing yet.
        """
        if self.pinged is None:
            if now - self.heard < self.heartbeat_s:
                return "wait"
            self.pinged = now
            return "ping"
        return "dead" if now - self.pinged >= self.timeout_s else "wait"

    def silence(self, now: float) -> str:
        """Seconds without a frame at ``now``, for a message (``0.3``, never ``0`` for a sub-second heartbeat)."""
        return seconds_text(round(now - self.heard, 1))
