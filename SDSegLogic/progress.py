"""Progress tracking with ETA, machine-readable progress events and a text progress bar.

Used by the ``sdseg`` command line (:mod:`SDSegLogic.cli`) and reusable by the engine server
and the Slicer module. Standard library only, so importing it costs nothing.

* :class:`ProgressTracker` counts done/total units (slices) of one job and estimates the time
  left. Before the first unit finishes it can only use a *prior* (seconds per unit, e.g. the
  registry's ``cpu_seconds_per_slice``); afterwards it uses the measured rate.
* :class:`ProgressEvent` is one event of the ``--json`` stream; :meth:`ProgressEvent.to_json`
  gives one line of compact JSON (the schema is documented in :mod:`SDSegLogic.cli`).
* :class:`TextProgressBar` renders events on a terminal (``\\r`` updates) or, when the stream
  is not a terminal (a log file, a pipe), as at most one line per 10 % step.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Optional, TextIO

__all__ = ["EVENT_KINDS", "EVENT_FORMAT_VERSION", "ProgressEvent", "ProgressTracker", "TextProgressBar", "format_seconds",
           "printable"]

#: Version of the event schema; bumped when a field changes meaning or is removed.
EVENT_FORMAT_VERSION = 1
#: The kinds of event, in the order they occur for one run.
EVENT_KINDS = ("start", "progress", "volume_done", "error", "done")


# Control characters (C0, DEL, C1) -> a visible escape: a file name holding an escape sequence or a carriage
# return would otherwise recolour a terminal or overwrite a line of a log file.
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)]}
_ESCAPES.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
_ESCAPES_BUT_NEWLINE = {code: text for code, text in _ESCAPES.items() if code != 0x0A}


def printable(text: object, *, lines: bool = False) -> str:
    """``text`` as a string with every control character shown as an escape (``\\x1b``, ``\\r``, ``\\t``).

    Args:
        text: a file name, a path or a message for people.
        lines: keep newlines (a message of several lines); otherwise they are escaped too (a name).
    """
    return str(text).translate(_ESCAPES_BUT_NEWLINE if lines else _ESCAPES)


@dataclass
class ProgressEvent:
    """One progress event (one JSON object per line in ``sdseg segment --json``).

    Attributes:
        event: one of :data:`EVENT_KINDS`.
        volume: 1-based index of the volume this event is about (``None`` for run-level events).
        volumes: number of volumes in the run.
        input: path of the input volume, or ``None``.
        done: slices finished in this volume.
        total: slices to segment in this volume.
        eta_s: estimated seconds left for this volume (``None`` while unknown).
        elapsed_s: seconds since the volume started (``progress``/``volume_done``) or since
            the run started (``start``/``done``/``error``).
        outputs: kind (``segmentation``, ``probabilities``, ``uncertainty``, ``preview``) ->
            path written; on ``done``, input path -> its segmentation for all volumes that succeeded.
        message: human-readable text (the error message for ``error``).
        exit_code: on ``error`` and ``done``: the process exit code this event implies.
        extra: further fields (e.g. ``model``, ``device`` on ``start``), merged at top level.
    """

    event: str
    volume: Optional[int] = None
    volumes: Optional[int] = None
    input: Optional[str] = None
    done: Optional[int] = None
    total: Optional[int] = None
    eta_s: Optional[float] = None
    elapsed_s: Optional[float] = None
    outputs: Optional[Dict[str, str]] = None
    message: Optional[str] = None
    exit_code: Optional[int] = None
    extra: Dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.event not in EVENT_KINDS:
            raise ValueError(f"progress event kind {self.event!r} must be one of {EVENT_KINDS}.")

    def to_dict(self) -> dict:
        """Dict with ``format_version`` and every non-``None`` field; floats rounded to 0.01 s."""
        data = {"format_version": EVENT_FORMAT_VERSION}
        for key, value in asdict(self).items():
            if key == "extra" or value is None:
                continue
            if isinstance(value, float):
                value = round(value, 2) if math.isfinite(value) else None
            data[key] = value
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return data

    def to_json(self) -> str:
        """One line of JSON (no newline inside; strict JSON, no NaN).

        ASCII only (other characters as ``\\u`` escapes, which every JSON reader decodes back), so a
        console or pipe in any encoding carries it, e.g. a Windows code page and a non-ASCII file name.
        """
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, line: str) -> "ProgressEvent":
        """Parse a line written by :meth:`to_json` (unknown fields go to ``extra``)."""
        data = json.loads(line)
        data.pop("format_version", None)
        known = {name for name in cls.__dataclass_fields__ if name != "extra"}
        extra = {k: data.pop(k) for k in list(data) if k not in known}
        return cls(**data, extra=extra)


class ProgressTracker:
    """Done/total counter of one job with elapsed time and ETA.

    Args:
        total: units (slices) to do; 0 is allowed (the job is immediately complete).
        prior_seconds_per_unit: estimate used before the first unit completes (``None`` = no ETA
            until then).
        clock: monotonic clock in seconds (injectable for tests).

    The ETA after ``done`` units is ``(total - done) * elapsed / done``: the measured mean rate,
    which includes warm-up in the first batch and so errs on the long side early on.
    """

    def __init__(
        self,
        total: int,
        prior_seconds_per_unit: Optional[float] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total < 0:
            raise ValueError(f"total must be >= 0, got {total}.")
        if prior_seconds_per_unit is not None and not (prior_seconds_per_unit >= 0):
            raise ValueError(f"prior_seconds_per_unit must be >= 0, got {prior_seconds_per_unit}.")
        self.total = int(total)
        self.prior = prior_seconds_per_unit
        self._clock = clock
        self._start = clock()
        self.done = 0

    def update(self, done: int) -> None:
        """Record that ``done`` units are finished (absolute count, clipped to [0, total])."""
        self.done = max(0, min(int(done), self.total))

    @property
    def elapsed_s(self) -> float:
        return max(0.0, self._clock() - self._start)

    @property
    def seconds_per_unit(self) -> Optional[float]:
        """Measured seconds per unit once something is done, else the prior (or ``None``)."""
        if self.done > 0:
            return self.elapsed_s / self.done
        return self.prior

    @property
    def eta_s(self) -> Optional[float]:
        """Estimated seconds left, ``None`` when unknown; 0 when complete."""
        remaining = self.total - self.done
        if remaining <= 0:
            return 0.0
        rate = self.seconds_per_unit
        if rate is None:
            return None
        if self.done == 0:
            return max(0.0, rate * self.total - self.elapsed_s)
        return rate * remaining

    @property
    def fraction(self) -> float:
        return 1.0 if self.total == 0 else self.done / self.total


def format_seconds(seconds: Optional[float]) -> str:
    """``None`` -> ``"?"``, 75 -> ``"1:15"``, 3725 -> ``"1:02:05"``."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TextProgressBar:
    """Render :class:`ProgressEvent` objects for a person watching ``stream`` (usually stderr).

    Control characters of names and messages are written as escapes (:func:`printable`), so the
    only control characters written are the newline and, on a terminal, the in-place update.

    Args:
        stream: text stream to write to; ``None`` (a process started with stderr closed, ``2>&-``,
            has ``sys.stderr = None``) writes nothing, as :func:`print` does.
        width: characters of the bar itself.
        interactive: ``None`` detects a terminal with ``stream.isatty()``; a terminal gets one
            line rewritten in place, anything else one line per 10 % step.
    """

    def __init__(self, stream: Optional[TextIO], width: int = 24, interactive: Optional[bool] = None) -> None:
        self.stream = stream
        self.width = width
        if interactive is None:
            isatty = getattr(stream, "isatty", None)
            interactive = bool(isatty and isatty())
        self.interactive = interactive
        self._last_decile: Optional[int] = None
        self._open_line = False

    def __call__(self, event: ProgressEvent) -> None:
        if event.event == "progress":
            self._progress(event)
        elif event.event == "volume_done":
            self._finish_line()
            outputs = ", ".join(printable(p) for p in (event.outputs or {}).values())
            self._write(f"{self._prefix(event)}done in {format_seconds(event.elapsed_s)} -> {outputs}\n")
            self._last_decile = None
        elif event.event == "error":
            self._finish_line()
            where = f"{self._prefix(event)}" if event.volume is not None else ""
            self._write(f"{where}error: {printable(event.message, lines=True)}\n")
            self._last_decile = None

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _prefix(event: ProgressEvent) -> str:
        if event.volume is None:
            return ""
        name = (event.input or "").replace("\\", "/").rsplit("/", 1)[-1]
        return f"[{event.volume}/{event.volumes}] {printable(name)}: "

    def _progress(self, event: ProgressEvent) -> None:
        done, total = event.done or 0, event.total or 0
        fraction = 1.0 if total == 0 else done / total
        if not self.interactive:
            decile = int(fraction * 10)
            if decile == self._last_decile:
                return
            self._last_decile = decile
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        text = (
            f"{self._prefix(event)}|{bar}| {done}/{total} slices "
            f"{format_seconds(event.elapsed_s)} elapsed, ETA {format_seconds(event.eta_s)}"
        )
        if self.interactive:
            self._write("\r" + text + "\x1b[K")
            self._open_line = True
        else:
            self._write(text + "\n")

    def end_line(self) -> None:
        """Finish a line being rewritten in place, so that other text can follow on its own line."""
        self._finish_line()

    def _finish_line(self) -> None:
        if self._open_line:
            self._write("\n")
            self._open_line = False

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        self.stream.write(text)
        self.stream.flush()
