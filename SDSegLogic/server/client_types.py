"""What the engine client raises and returns (and builds from a result frame), and engine URLs (no sockets here).

Re-exported by :mod:`SDSegLogic.server.client`, which is where callers import them from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlparse

import numpy as np

from ..errors import CancelledError, SDSegError
from ..geometry import ImageGeometry
from .error_code import with_error_code
from .protocol import Frame, geometry_from_json
from .wire_values import short_repr

__all__ = ["CancelledByOtherClientError", "EngineBusyError", "EngineError", "EngineDiedError", "EngineShutdownError", "SegmentOutput",
           "error_from_header", "output_from_frame", "parse_engine_url"]


class EngineError(SDSegError):
    """The engine answered with an ``error`` event. ``code`` is machine-readable (see PROTOCOL.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(with_error_code(message, code))
        self.code = code
        self.message = message


class EngineDiedError(EngineError):
    """The engine process exited, stopped answering, or the connection broke in the middle of a request."""


class EngineBusyError(EngineError):
    """The engine cannot take the request now (code ``busy``); nothing ran. Wait, then send it again.

    The connection stays usable (except after a refused ``hello``). Waiting until a ``ping``
    answers ``busy: false`` and then resending is the remedy for every reason (the Slicer panel's
    busy wait does exactly that).

    Attributes:
        reason: ``job_running`` (one job at a time), ``receive_budget`` (other requests' bodies fill
            the engine's budget for request bodies; this one was read and dropped), ``connections``
            (too many clients), or ``""`` from an engine that does not say.
        retry_after_s: the engine's hint of how long to wait before pinging again, or None.
    """

    def __init__(self, code: str, message: str, reason: str = "", retry_after_s: Optional[float] = None) -> None:
        super().__init__(code, message)
        self.reason = reason
        self.retry_after_s = retry_after_s


def error_from_header(header: Dict[str, Any]) -> EngineError:
    """The exception for an ``error`` frame's header: :class:`EngineBusyError` for ``busy``,
    :class:`EngineShutdownError` for ``engine_shutdown`` (e.g. read after a send failed), else :class:`EngineError`."""
    code, message = str(header.get("code", "error")), str(header.get("message", ""))
    if code == "engine_shutdown":
        return EngineShutdownError(code, message, str(header.get("reason", "")))
    if code != "busy":
        return EngineError(code, message)
    return EngineBusyError(code, message, str(header.get("reason", "")), _seconds_or_none(header.get("retry_after_s")))


def _seconds_or_none(value: Any) -> Optional[float]:
    """A finite number of seconds >= 0, else None: ``10**400`` raised OverflowError, ``1e400`` (inf) was a wait without end."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class CancelledByOtherClientError(CancelledError):
    """The job was cancelled by a ``cancel`` sent on another connection to the engine, not by this client.

    A subclass of :class:`SDSegLogic.errors.CancelledError`, so code that handles a cancel still
    does; a front-end can say that someone else stopped the run.
    """


class EngineShutdownError(EngineError):
    """The engine shut down while this client's job ran (code ``engine_shutdown``); no result was sent.

    Someone stopped the engine (a ``shutdown`` request from another client, SIGTERM or Ctrl-C to
    its process, its parent exiting): not this client's own cancel, which raises
    :class:`SDSegLogic.errors.CancelledError`. Start the engine again, then run the job again.

    Attributes:
        reason: why the engine stopped, as it said (``request``, ``signal``, ``parent_exited``,
            ``idle_timeout``, ``stopped``; ``""`` when it did not say).
    """

    def __init__(self, code: str, message: str, reason: str = "") -> None:
        super().__init__(code, message)
        self.reason = reason


@dataclass
class SegmentOutput:
    """What a ``segment`` request returns.

    Attributes:
        labels: uint8 (K, J, I) label values from the model card (0 = background).
        geometry: the grid of ``labels`` (the input's, LPS).
        probabilities: float32, (K, J, I) for a binary model or (C, K, J, I), when requested.
        variance: float32, same shape as ``probabilities``, when requested and samples > 1.
        header: the engine's ``result`` header (model id/version, options, seconds, voxel counts).
        warnings: the engine's quality warnings about this result (oblique or non-axial grid,
            uneven spacing, colour/grey or modality mismatch, empty result...); show them to the user.
    """

    labels: np.ndarray
    geometry: ImageGeometry
    probabilities: Optional[np.ndarray] = None
    variance: Optional[np.ndarray] = None
    header: Dict[str, Any] = field(default_factory=dict)
    warnings: Tuple[str, ...] = ()


def parse_engine_url(url: str) -> Tuple[str, int]:
    """``sdseg://host:port`` (or ``tcp://host:port``, or ``host:port``) -> (host, port).

    A userinfo (``alice:pw@``) and a query are ignored; a refused URL is quoted without them
    (:func:`SDSegLogic.redact.redact_url`), as it may carry a password or token.

    Raises:
        SDSegError: another scheme, no host, or no valid port.
    """
    from ..redact import redact_url

    text = url.strip()
    if "://" not in text:
        text = "sdseg://" + text
    try:
        parsed = urlparse(text)
        scheme, host, port = parsed.scheme, parsed.hostname, parsed.port
    except ValueError:  # a port that is not a number or out of range, a broken [IPv6] address
        scheme = host = port = None
    if scheme not in ("sdseg", "tcp") or not host or not port:
        raise SDSegError(f"engine URL {redact_url(url)!r} must look like sdseg://127.0.0.1:50123 (scheme sdseg or tcp, "
                         "host and port).")
    return host, port


def _owned(array: np.ndarray, dtype: type) -> np.ndarray:
    """``array`` as ``dtype`` without a copy when it is writable and owns its memory, else a copy that does."""
    if array.dtype == dtype and array.flags.writeable and array.flags.owndata:  # "<f4" is float32 on a little-endian host
        return array
    return np.array(array, dtype=dtype)


def output_from_frame(frame: Frame) -> SegmentOutput:
    """The :class:`SegmentOutput` of a ``result`` frame; EngineError ``protocol_error`` when it lacks labels or
    geometry, or its ``warnings`` are no list of texts (:func:`_warnings_of`).

    Arrays that are writable and own their memory (as :func:`SDSegLogic.server.receive_arrays.recv_frame_owned`
    receives them) are used as they are: a large result map is never held twice. Views into a
    frame's body are copied, so every returned array is writable and owns its memory.
    """
    arrays = frame.arrays
    if "labels" not in arrays or not isinstance(frame.header.get("geometry"), dict):
        raise EngineError("protocol_error", f"the engine's result lacks labels or geometry (arrays {sorted(arrays)}); "
                          "update the engine and this client to the same SDSeg version.")
    return SegmentOutput(
        labels=_owned(arrays["labels"], np.uint8),
        geometry=geometry_from_json(frame.header["geometry"]),
        probabilities=None if "probabilities" not in arrays else _owned(arrays["probabilities"], np.float32),
        variance=None if "variance" not in arrays else _owned(arrays["variance"], np.float32),
        header={k: v for k, v in frame.header.items() if k != "arrays"},
        warnings=_warnings_of(frame.header.get("warnings")),
    )


def _warnings_of(value: Any) -> Tuple[str, ...]:
    """A result header's ``warnings`` as texts: a list as sent, one sentence (a string) as one warning, null as none.

    Raises:
        EngineError: ``protocol_error`` naming the value when it is neither (a number, an object):
            iterating a string gave one warning per character, and a number a bare TypeError.
    """
    if value is None:
        return ()
    if isinstance(value, str):  # another engine's single warning: one sentence, not one warning per letter
        return (value,)
    if isinstance(value, list):
        return tuple(str(w) for w in value)
    raise EngineError("protocol_error", f"the engine's result has warnings {short_repr(value)}, not a list of texts; "
                      "update the engine and this client to the same SDSeg version.")
