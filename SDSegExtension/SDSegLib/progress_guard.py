"""Make an engine's ``progress`` frame safe to show: counts and time left checked, bad values replaced.

A remote engine (another version, a proxy, a bug) may send a ``progress`` frame whose ``done`` or
``total`` is not a count (text, NaN, infinite, negative) or whose ``eta_s`` is not a time (an
integer beyond float range too: it raised OverflowError and ended the job as a ``client_error``). The
client hands such a frame over unchecked, and the panel's progress display (``panel_state.
show_job_event``, ``sequence_run``) did ``int(done)`` / ``float(eta_s)`` on it: the error escaped
the timer's slot, and the job's end event polled in the same batch was lost, so the panel stayed
in "running" for good. :class:`ProgressGuard` cleans each frame in the job's worker thread: a bad
count becomes the nearest sensible one (0 done, 1 total, ``done`` at most ``total``), a bad time
left becomes unknown (``None``, shown as ``?``); the first bad frame of a job is logged once.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, Dict, List, Optional

__all__ = ["ProgressGuard"]

_PANEL_KEYS = ("time_point", "time_points")  # set by SDSegLib.sequence_run, never taken from the engine


def _count(value: Any) -> Optional[int]:
    """``value`` as a count (an int, or a float with an integral, finite value), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value)


def _seconds(value: Any) -> Optional[float]:
    """``value`` as a finite, non-negative number of seconds, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an integer beyond float range (10**400 is valid JSON): escaped the progress callback
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class ProgressGuard:
    """Cleans the ``progress`` frames of one job (:meth:`clean`); logs the first bad one.

    Args:
        log: where the one warning goes (default: Python logging).
    """

    def __init__(self, log: Callable[[str], None] = logging.warning) -> None:
        self._log = log
        self.warned = False

    def clean(self, header: Dict[str, Any]) -> Dict[str, Any]:
        """A copy of the frame ``header`` whose ``done``/``total`` are ints with 0 <= done <= total, total >= 1,
        and whose ``eta_s`` is a finite number >= 0 or None."""
        data = {key: value for key, value in dict(header).items() if key not in _PANEL_KEYS}
        bad: List[str] = []
        total = _count(data.get("total", 1))
        if total is None or total < 0:
            bad.append(f"total={data.get('total')!r}")
            total = 1
        total = max(1, total)  # 0 (nothing to do) shown as 1, as before
        done = _count(data.get("done", 0))
        if done is None or not 0 <= done <= total:
            bad.append(f"done={data.get('done')!r}")
            done = 0 if done is None else min(max(done, 0), total)
        eta = data.get("eta_s")
        if eta is not None and _seconds(eta) is None:
            bad.append(f"eta_s={eta!r}")
        data.update(done=done, total=total, eta_s=None if eta is None else _seconds(eta))
        if bad and not self.warned:
            self.warned = True
            self._log(f"SDSeg: the engine sent a malformed progress report ({', '.join(bad)}); showing "
                      "the nearest sensible values instead (further ones are corrected without a word).")
        return data
