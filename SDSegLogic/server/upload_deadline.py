"""An overall deadline for receiving one request frame, so a trickling upload cannot hold the body budget for ever.

The socket's ``io_timeout_s`` bounds each read alone: a peer that sends one byte every few seconds
never trips it, and its declared body keeps its share of the request-body budget
(:mod:`SDSegLogic.server.receive_budget`) for as long as it likes, so other clients are answered
``busy``. :class:`UploadDeadline` also bounds the whole frame: once its prefix is read, header and
body must arrive within :func:`upload_allowance_s` seconds, ``max(upload_floor_s, bytes /
upload_min_bytes_per_s)`` (PROTOCOL.md, "Upload deadline"). With the defaults (60 s, 256 KiB/s) a
512 x 512 x 400 int16 volume (200 MiB) has 800 s, which a 2 Mbit/s link meets; a 10 MiB/s link
needs 20 s of them.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Dict

from .protocol import ProtocolError

__all__ = ["UPLOAD_TOO_SLOW", "UploadDeadline", "UploadTooSlow", "upload_allowance_s"]

UPLOAD_TOO_SLOW = "upload_too_slow"  #: the ``code`` of the error frame a too slow upload is answered with


def upload_allowance_s(nbytes: int, min_bytes_per_s: float, floor_s: float) -> float:
    """Seconds a frame of ``nbytes`` (header and body) may take to arrive: ``max(floor_s, nbytes / min_bytes_per_s)``."""
    return max(float(floor_s), nbytes / float(min_bytes_per_s))


class UploadTooSlow(ProtocolError):
    """The frame did not arrive within its allowance; fatal (the rest of it is still on the wire).

    Attributes:
        fields: extra fields of the ``error`` frame (``job_id`` when known, ``received_bytes``,
            ``declared_bytes``, ``allowed_s``, ``min_bytes_per_s``).
    """

    def __init__(self, message: str, fields: Dict[str, Any]) -> None:
        super().__init__(UPLOAD_TOO_SLOW, message, fatal=True)
        self.fields = fields


class UploadDeadline:
    """A socket stand-in for the frame readers (``recv_into`` only) that adds an overall deadline to the per-read timeout.

    Each read waits at most ``io_timeout_s`` (a stall raises ``socket.timeout``, as before) and
    never past the deadline, which :meth:`start` sets once the frame's size is known. The socket's
    timeout is left at ``io_timeout_s`` after every read, as the connection's sends expect it.

    Args:
        sock: the connection's socket.
        io_timeout_s: the engine's per-read timeout.
        min_bytes_per_s: the slowest average rate a frame may arrive at (beyond the floor).
        floor_s: the least time any frame is allowed.
    """

    def __init__(self, sock: socket.socket, io_timeout_s: float, min_bytes_per_s: float, floor_s: float) -> None:
        self.sock = sock
        self.io_timeout_s = io_timeout_s
        self.min_bytes_per_s = min_bytes_per_s
        self.floor_s = floor_s
        self.began = time.monotonic()
        self.deadline = float("inf")
        self.allowed_s = 0.0
        self.declared = 0
        self.received = 0

    def start(self) -> None:
        """A frame begins arriving (its prefix): the floor counts from now."""
        self.began, self.received = time.monotonic(), 0
        self.declare(0)

    def declare(self, nbytes: int) -> None:
        """The prefix declared ``nbytes`` of header and body: the frame's allowance, from :meth:`start`."""
        self.declared = int(nbytes)
        self.allowed_s = upload_allowance_s(nbytes, self.min_bytes_per_s, self.floor_s)
        self.deadline = self.began + self.allowed_s

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        """``sock.recv_into``, waiting at most ``io_timeout_s`` and never past the deadline.

        Raises:
            UploadTooSlow: the deadline passed before the frame was complete (``job_id`` added by the caller).
            socket.timeout: nothing arrived for ``io_timeout_s`` seconds.
        """
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.too_slow()
        self.sock.settimeout(min(self.io_timeout_s, left))
        try:
            got = self.sock.recv_into(buffer, nbytes)
        except socket.timeout:
            if time.monotonic() >= self.deadline:
                raise self.too_slow() from None
            raise
        finally:
            try:
                self.sock.settimeout(self.io_timeout_s)
            except OSError:  # closed meanwhile (the engine's shutdown): keep the read's own outcome
                pass
        self.received += got
        return got

    def too_slow(self) -> UploadTooSlow:
        """The error for a frame still arriving at its deadline: what was too slow, the rule, and the remedy."""
        rate = self.min_bytes_per_s / (1 << 20)
        fields = {"received_bytes": self.received, "declared_bytes": self.declared,
                  "allowed_s": round(self.allowed_s, 3), "min_bytes_per_s": self.min_bytes_per_s}
        return UploadTooSlow(
            f"the request arrived too slowly: {self.received} of its {self.declared} bytes came within the {self.allowed_s:g} s "
            f"this engine allows a request of that size (at least {rate:g} MiB/s on average, never less than "
            f"{self.floor_s:g} s), so it was dropped and the connection is closed. Send it again over a faster or less "
            "busy link, or send fewer slices at a time; the engine's --upload-min-rate and --upload-floor set the rule.",
            fields)
