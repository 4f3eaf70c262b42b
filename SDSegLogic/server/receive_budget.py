"""The engine-wide budget for request bodies, and receiving a request under it.

``--max-request-bytes`` bounds one body, but every authenticated connection (up to
``max_connections``) may be receiving one at the same time, and the running job holds its own
image until it ends. :class:`ReceiveBudget` bounds the sum: a body is counted, at its declared
size, from the moment its prefix is read until the frame is dropped, or until its job ends when it
became one. A body that does not fit is never held: it is read through a small scratch buffer and
dropped, so the stream stays in step and the connection is kept, and the request is answered with
``error busy`` (``reason`` ``receive_budget``, a ``retry_after_s`` hint), which clients already
wait on and retry (PROTOCOL.md, "Request-body budget").

Frames without a body (ping, info, cancel, shutdown) and bodies of at most
:data:`UNCOUNTED_BODY_BYTES` are never counted, so the budget can never block them.
"""

from __future__ import annotations

import socket
import threading
from typing import Any, Callable, Dict, Optional, Tuple

from .protocol import Frame, ProtocolError, _recv_exact, decode_frame, discard_body, parse_header, recv_body, recv_prefix
from .upload_deadline import UploadDeadline, UploadTooSlow
from .wire_values import request_job_id

__all__ = ["UNCOUNTED_BODY_BYTES", "BUDGET_RETRY_AFTER_S", "ReceiveBudget", "BodyReservation", "BudgetExceeded",
           "receive_request"]

UNCOUNTED_BODY_BYTES = 64 << 10
"""Bodies up to this size are not counted (at most ``max_connections`` x 64 KiB in all)."""
BUDGET_RETRY_AFTER_S = 1.0
"""The ``retry_after_s`` of a refusal: how long a client waits before it pings and sends again."""


class BodyReservation:
    """Bytes of the budget held by one body; :meth:`release` gives them back (idempotent, any thread)."""

    def __init__(self, budget: "ReceiveBudget", nbytes: int) -> None:
        self._budget = budget
        self.nbytes = nbytes

    def release(self) -> None:
        """Give the bytes back to the budget; later calls do nothing."""
        self._budget._give_back(self)

    def hand_over(self) -> "BodyReservation":
        """A new reservation that owns these bytes; this one is left empty (its release does nothing)."""
        return self._budget._move(self)


class ReceiveBudget:
    """Bytes of request bodies the engine may be receiving or holding at once.

    Args:
        limit: the budget in bytes (``EngineOptions.max_inflight_request_bytes``).
    """

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self._in_use = 0
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        """Bytes counted now."""
        return self._in_use

    @property
    def available(self) -> int:
        """Bytes a new body may still take."""
        return self.limit - self._in_use

    def try_reserve(self, nbytes: int) -> Optional[BodyReservation]:
        """Count a body of ``nbytes``; None when it does not fit (nothing is counted then)."""
        if nbytes <= UNCOUNTED_BODY_BYTES:
            return BodyReservation(self, 0)
        with self._lock:
            if self._in_use + nbytes > self.limit:
                return None
            self._in_use += nbytes
        return BodyReservation(self, nbytes)

    def _give_back(self, held: BodyReservation) -> None:
        with self._lock:
            self._in_use -= held.nbytes
            held.nbytes = 0
            if self._in_use < 0:  # never: each reservation gives back once
                raise RuntimeError(f"receive budget released below zero ({self._in_use} bytes)")

    def _move(self, held: BodyReservation) -> BodyReservation:
        with self._lock:
            moved, held.nbytes = held.nbytes, 0
        return BodyReservation(self, moved)


class BudgetExceeded(ProtocolError):
    """A body did not fit the budget; it was read and dropped, the stream is in step (not fatal).

    Attributes:
        fields: extra fields of the ``error`` frame (``reason``, ``retry_after_s``, ``job_id``).
    """

    def __init__(self, message: str, fields: Dict[str, Any]) -> None:
        super().__init__("busy", message, fatal=False)
        self.fields = fields


def _mib(nbytes: int) -> str:
    """``nbytes`` in MiB for a message, to a tenth (a counted body is at least 0.06 MiB: never said as 0)."""
    return f"{nbytes / (1 << 20):.1f} MiB"


def _refusal(header: Dict[str, Any], blen: int, budget: ReceiveBudget) -> BudgetExceeded:
    # always a job_id: the request's own, or null when it named none ("" too), as every refusal says it
    fields: Dict[str, Any] = {"job_id": request_job_id(header), "reason": "receive_budget", "retry_after_s": BUDGET_RETRY_AFTER_S}
    return BudgetExceeded(
        f"the engine is receiving or holding other requests ({_mib(budget.in_use)} of its {_mib(budget.limit)} "
        f"budget for request bodies), so this {_mib(blen)} request was read and dropped. Wait until a ping says the "
        "engine is not busy (or about retry_after_s seconds), then send it again; a smaller slice range fits sooner. "
        "The engine's --max-inflight-request-bytes sets the budget.", fields)


def receive_request(sock: socket.socket, max_header_bytes: int, max_body_bytes: int, budget: ReceiveBudget,
                    on_header: Optional[Callable[[Dict[str, Any]], None]] = None,
                    deadline: Optional[UploadDeadline] = None) -> Tuple[Frame, BodyReservation]:
    """Read one request frame; its body is counted against ``budget`` while it is received and held.

    ``on_header``, when given, is called with the decoded header (``{}`` for a malformed one, which
    is reported once the body was read) before the body is read, so that the engine knows which
    request a connection is receiving (its ``job_id``) while the body still arrives. ``deadline``,
    when given, bounds the whole frame's arrival (:mod:`~SDSegLogic.server.upload_deadline`), so a
    trickling upload gives its share of the budget back instead of holding it for ever.

    Returns:
        The frame and the reservation of its body: the caller releases it once the frame is dropped
        (or hands it over to the job that keeps the image). On every error it is already released.

    Raises:
        BudgetExceeded: the body did not fit; it was read and dropped (the stream is in step).
        ProtocolError: as :func:`SDSegLogic.server.protocol.recv_frame`.
        UploadTooSlow: the frame did not arrive within its deadline (fatal; ``job_id`` when its header was read).
        ConnectionError, OSError, socket.timeout: the peer closed, failed or stalled mid-frame.
    """
    reader: Any = sock
    if deadline is not None:
        deadline.start()
        reader = deadline
    header: Dict[str, Any] = {}
    try:
        hlen, blen = recv_prefix(reader, max_header_bytes, max_body_bytes)
        if deadline is not None:
            deadline.declare(hlen + blen)
        raw = _recv_exact(reader, hlen)
        try:
            header = parse_header(raw)
        except ProtocolError:  # malformed: said once the body is read
            pass
        if on_header is not None:
            on_header(header)
        return _receive_body(reader, raw, blen, budget)
    except UploadTooSlow as exc:
        exc.fields = {"job_id": request_job_id(header), **exc.fields}
        raise


def _receive_body(reader: Any, raw: bytearray, blen: int, budget: ReceiveBudget) -> Tuple[Frame, BodyReservation]:
    """The body part of :func:`receive_request`: counted while received, or read and dropped when it does not fit."""
    held = budget.try_reserve(blen)
    if held is None:
        discard_body(reader, blen)
        raise _refusal(parse_header(raw), blen, budget)  # a malformed header is reported as such
    try:
        body = recv_body(reader, blen) if blen else bytearray()
        return decode_frame(raw, body), held
    except BaseException:
        held.release()
        raise
