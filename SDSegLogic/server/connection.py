"""One client connection of the engine: serialised sends, and closing that never waits on a stuck peer.

The engine's connection thread replies to requests and the job thread streams progress and the
result on the same socket, so every frame is written under the connection's lock. A peer that
stops reading makes ``sendall`` wait; the socket's timeout (``io_timeout_s``, applied per piece of
:data:`SDSegLogic.server.protocol.SEND_PIECE_BYTES`) ends that wait, and :meth:`Connection.abort`
(from any thread, without the lock) wakes a blocked sender or reader at once. :class:`DeadlineReader`
reads a frame under one deadline for the whole frame (the ``hello``), not one per piece. A connection
also knows whether a request is arriving on it, so that the engine's shutdown can answer that request
before it closes the connection (:mod:`SDSegLogic.server.engine_farewell`).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any, Dict, Optional

import numpy as np

from .protocol import send_frame

__all__ = ["Connection", "DeadlineReader"]

log = logging.getLogger("SDSegLogic.server")


#: TCP keepalive: first probe after this many idle seconds, then every KEEPALIVE_INTERVAL_S, KEEPALIVE_PROBES times
KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_PROBES = 60, 15, 4


def keep_alive(sock: socket.socket) -> None:
    """Have the system probe an idle connection, so that a client gone without a word is noticed.

    A remote client whose network drops without closing (a laptop asleep, a NAT entry expired) would otherwise
    hold its connection, and one of the engine's few connection slots, for ever: idle connections have no time
    limit. With keepalive its read fails after about ``KEEPALIVE_IDLE_S + KEEPALIVE_INTERVAL_S x KEEPALIVE_PROBES``
    seconds (2 minutes) and the connection closes. Where the system lacks an option (per-socket timings are
    Linux/macOS/Windows-specific), its defaults apply.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    except OSError:  # not a TCP socket (a test's socketpair): nothing to probe
        return
    idle_option = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)  # macOS: KEEPALIVE
    for option, value in ((idle_option, KEEPALIVE_IDLE_S), (getattr(socket, "TCP_KEEPINTVL", None), KEEPALIVE_INTERVAL_S),
                          (getattr(socket, "TCP_KEEPCNT", None), KEEPALIVE_PROBES)):
        if option is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
            except OSError:
                pass


class Connection:
    """A client socket of the engine.

    Args:
        sock: the accepted socket.
        peer: its address (for the log).
    """

    def __init__(self, sock: socket.socket, peer: Any) -> None:
        keep_alive(sock)
        self.sock = sock
        self.peer = peer
        self.lock = threading.Lock()
        self.open = True
        self._request_lock = threading.Lock()
        self._arriving: Optional[Dict[str, Any]] = None  # the header of the request being received ({} before it is read)
        self._answered_early = False  # the shutdown answered the arriving request: its connection thread must not

    def begin_request(self) -> None:
        """The connection thread starts to receive a request frame (its first bytes are there)."""
        with self._request_lock:
            self._arriving, self._answered_early = {}, False

    def name_request(self, header: Dict[str, Any]) -> None:
        """The arriving request's header was read (its body may still be arriving)."""
        with self._request_lock:
            if self._arriving is not None:
                self._arriving = header

    def end_request(self) -> bool:
        """The request arrived (or failed to); False when :meth:`claim_arriving` answered it meanwhile (drop it)."""
        with self._request_lock:
            answered, self._arriving, self._answered_early = self._answered_early, None, False
        return not answered

    def claim_arriving(self) -> Optional[Dict[str, Any]]:
        """For the engine's shutdown: the header of a request still arriving (``{}``: not read yet), once; else None.

        Whoever gets a header answers that request; its connection thread, finding it claimed
        (:meth:`end_request`), then sends nothing for it.
        """
        with self._request_lock:
            if self._arriving is None or self._answered_early:
                return None
            self._answered_early = True
            return self._arriving

    def send(self, header: Dict[str, Any], arrays: Optional[Dict[str, np.ndarray]] = None) -> bool:
        """Send one frame; returns False when the connection is (or has just become) unusable.

        A send that fails or times out (the peer stopped reading) leaves a partial frame on the
        wire, so the connection is aborted: its reader sees the end of the stream and the job it
        runs is cancelled. A header that cannot be encoded (nothing was sent) is logged and
        replaced by an ``internal_error`` frame.
        """
        with self.lock:
            if not self.open:
                return False
            try:
                send_frame(self.sock, header, arrays)
                return True
            except (TypeError, ValueError):
                log.exception("cannot encode a %r frame for %s", header.get("type"), self.peer)
                fallback = {"type": "error", "code": "internal_error",
                            "message": "the engine could not encode its reply; see the engine log."}
                if header.get("job_id") is not None:
                    fallback["job_id"] = str(header["job_id"])
                try:
                    send_frame(self.sock, fallback)
                except OSError:
                    pass
                return False
            except OSError as exc:  # socket.timeout included: the peer stopped reading
                log.warning("dropping the connection from %s: cannot send (%s)", self.peer, exc)
                self.abort()
                return False

    def abort(self) -> None:
        """Mark the connection unusable and shut the socket down (wakes a blocked send or receive)."""
        self.open = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self, wait_s: float = 5.0) -> None:
        """Abort, then close the socket once a sender that was blocked on it has let go."""
        self.abort()
        acquired = self.lock.acquire(timeout=wait_s)
        try:
            self.sock.close()
        except OSError:
            pass
        finally:
            if acquired:
                self.lock.release()


class DeadlineReader:
    """A socket whose reads share one deadline, for the frame readers of :mod:`~SDSegLogic.server.protocol`.

    A socket timeout bounds each ``recv`` alone, so a peer that trickles a byte now and then could
    hold a read open for ever; this bounds them all together. It offers ``recv_into``, the only
    call those readers make, and leaves the socket's timeout at what was left of the deadline.

    Args:
        sock: the socket to read from.
        seconds: time allowed for all the reads together, from now.
    """

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.sock = sock
        self.deadline = time.monotonic() + seconds

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        """``sock.recv_into`` with what is left of the deadline as its timeout.

        Raises:
            socket.timeout: the deadline has passed (before or during this read).
        """
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("the deadline for this frame has passed")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer, nbytes)
