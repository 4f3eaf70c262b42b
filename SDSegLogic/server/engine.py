"""The engine server: one warm model, one job at a time, many authenticated connections.

Threads (all daemon threads of the engine process):

* the *accept loop* (:meth:`EngineServer.serve_forever`, the main thread) accepts loopback
  connections: at most ``max_connections`` authenticated ones and, apart, :data:`PENDING_PER_CONNECTION`
  x that many authenticating (a full pool drops its oldest), so tokenless peers cannot lock clients out;
* one *connection thread* per client reads frames: hello/auth first, then info, segment, cancel,
  ping, shutdown. It keeps reading while a job runs, so a ``cancel`` on the same connection is
  seen at once;
* one *job thread* runs :func:`SDSegLogic.segment.segment_array` and sends progress events and the
  result. Its ``should_cancel`` callback is polled between slice batches, so a cancel stops the
  work within one batch and no partial result is ever sent. The engine's shutdown stops it the
  same way, but its last frame is then ``error engine_shutdown``, not ``cancelled``
  (:mod:`SDSegLogic.server.job_state`), and connections close only once it was sent.

A connection's frames are written under that connection's send lock, so the job thread's events
and the connection thread's replies never interleave (:class:`~SDSegLogic.server.connection.Connection`).
After ``hello`` every socket has a timeout of ``io_timeout_s``: a peer that stops in the middle of
a frame it sends, or stops reading the frames it is sent, is disconnected (and its job cancelled)
instead of holding a thread, the job slot or the engine's shutdown for ever. Request bodies, over all
connections and the running job, share one budget (``max_inflight_request_bytes``); a body that does
not fit is read and dropped and answered ``busy`` (:mod:`SDSegLogic.server.receive_budget`).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any, Callable, Dict, Optional

from .connection import Connection
from .engine_farewell import answer_arriving, send_within
from .engine_handshake import authenticate, welcome_frame
from .engine_jobs import JobSlot
from .engine_options import LOOPBACK_HOSTS, PENDING_PER_CONNECTION, EngineOptions, loopback_address
from .job_state import EngineJob, check_shutdown_reason
from .jobs import engine_info
from .protocol import Frame, ProtocolError, wait_readable
from .receive_budget import BodyReservation, ReceiveBudget, receive_request
from .upload_deadline import UPLOAD_TOO_SLOW, UploadDeadline
from .wire_values import short_repr

__all__ = ["EngineOptions", "EngineServer", "LOOPBACK_HOSTS", "PENDING_PER_CONNECTION", "SHUTDOWN_JOIN_S"]

log = logging.getLogger("SDSegLogic.server")
SHUTDOWN_JOIN_S = 5.0  #: how long a shutdown waits for the running job to stop and send its last frame
ACCEPT_RETRY_S = 0.1  #: pause after a failed accept (out of file descriptors...) before the next try


def seconds_text(seconds: float) -> str:
    """A duration for a message: ``0.3``, ``60``, ``3600`` (``%.0f`` said ``0`` for anything under half a second)."""
    return f"{seconds:g}" if seconds < 1000 else f"{seconds:.0f}"


class EngineServer(JobSlot):
    """Serve one loaded predictor over the SDSeg protocol (its job slot: :class:`~SDSegLogic.server.engine_jobs.JobSlot`).

    Args:
        predictor: an object with ``model_card`` and ``predict_probabilities`` (an
            :class:`SDSegLogic.pipeline.SDSegPipeline`).
        options: binding, token and limits.
        segment_fn: the volume pipeline, called with :func:`SDSegLogic.segment.segment_array`'s
            arguments (``modality``, ``strict_channels`` and ``strict_modality`` included); defaults
            to that function.
    """

    def __init__(self, predictor: Any, options: EngineOptions, segment_fn: Optional[Callable[..., Any]] = None) -> None:
        options.validate()
        self.predictor = predictor
        self.options = options
        self._segment_fn = segment_fn
        self._listener: Optional[socket.socket] = None
        self._stop = threading.Event()
        self._stop_reason: Optional[str] = None  # why the engine stops (job_state.SHUTDOWN_REASONS), once it does
        self._job_lock = threading.Lock()
        self._job: Optional[EngineJob] = None
        self._job_thread: Optional[threading.Thread] = None  # the latest job's (a finished thread holds no job data)
        self._connections: Dict[int, Connection] = {}
        self._pending: Dict[int, Connection] = {}  # accepted, not yet authenticated
        self._conn_lock = threading.Lock()
        self._budget = ReceiveBudget(options.max_inflight_request_bytes)  # request bodies received or held, all connections
        self._last_activity = time.monotonic()
        self.port = 0
        self.host = options.host  #: the address listened on, once bound (``localhost`` resolved)

    # ------------------------------------------------------------------ lifecycle
    def bind(self) -> int:
        """Open the listening socket; returns the port (the chosen one when ``port`` is 0); sets :attr:`host`."""
        host = self.host = loopback_address(self.options.host) or self.options.host  # "localhost": the address it names
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, self.options.port), family=family, backlog=16)
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]  # as bound: "" (every IPv4 address) is "0.0.0.0"
        return self.port

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown`, a ``shutdown`` request or the idle timeout."""
        if self._listener is None:
            self.bind()
        self._last_activity = time.monotonic()  # the idle clock starts now, not while the model loaded
        reason, accept_failing = "stopped", False
        try:
            while not self._stop.is_set():
                try:
                    sock, peer = self._listener.accept()
                except socket.timeout:
                    idle = self.options.idle_timeout_s
                    with self._conn_lock:
                        busy = bool(self._connections) or self._job is not None
                    if idle and not busy and time.monotonic() - self._last_activity > idle:
                        log.info("no client for %s s; exiting (idle timeout)", seconds_text(idle))
                        reason = "idle_timeout"
                        break
                    continue
                except OSError as exc:
                    if self._stop.is_set() or self._listener.fileno() < 0:  # closed by shutdown()
                        break
                    # e.g. out of file descriptors (EMFILE) for a moment: keep serving, as connections close
                    if not accept_failing:
                        log.warning("cannot accept a connection (%s); still listening", exc)
                    accept_failing = True
                    self._stop.wait(ACCEPT_RETRY_S)
                    continue
                accept_failing = False
                self._last_activity = time.monotonic()
                threading.Thread(target=self._serve_connection, args=(sock, peer), daemon=True,
                                 name=f"sdseg-conn-{peer}").start()
        except KeyboardInterrupt:  # Ctrl-C where no signal handler turned it into stop("signal")
            reason = "signal"
            raise
        finally:
            self.shutdown(reason)

    def stop(self, reason: str = "stopped") -> None:
        """Begin shutting down without waiting: :meth:`serve_forever` ends within 0.2 s and shuts down.

        Safe in a signal handler. The first reason given (to this or :meth:`shutdown`) is the one a
        job stopped by the shutdown reports to its client (``error engine_shutdown``).

        Args:
            reason: a key of :data:`SDSegLogic.server.job_state.SHUTDOWN_REASONS`.
        """
        check_shutdown_reason(reason)
        if self._stop_reason is None:
            self._stop_reason = reason
        self._stop.set()

    def shutdown(self, reason: str = "stopped", job_wait_s: Optional[float] = None) -> None:
        """Stop accepting, stop the running job and close every connection (idempotent).

        ``job_wait_s`` (default :data:`SHUTDOWN_JOIN_S`) bounds the wait for the job; 0 sends its
        last frame at once (a second Ctrl-C: stop waiting).

        The running job ends with an ``engine_shutdown`` error naming ``reason`` (a key of
        :data:`SDSegLogic.server.job_state.SHUTDOWN_REASONS`), sent before its connection closes
        when it stops within :data:`SHUTDOWN_JOIN_S`, else from here while its batch still runs (a
        long batch; its result is then dropped). A job that already ended gets as long to finish
        sending its last frame (a large result). A request still arriving is answered ``engine_shutdown``
        (:mod:`~SDSegLogic.server.engine_farewell`). Returns within a few seconds even when a
        client has stopped reading: closing a connection shuts its socket down first, which wakes
        a sender blocked on it.
        """
        self.stop(reason)
        job = self._job
        if job is not None:
            job.cancel(self._stop_reason)
        # a job that already ended may still be sending its last frame (a large result): let it go out whole
        thread = job.thread if job is not None else self._job_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=SHUTDOWN_JOIN_S if job_wait_s is None else job_wait_s)
            # a long batch: tell its client now, not by a lost connection. Not thread.is_alive(): CPython marks a thread
            # stopped when a Ctrl-C interrupts a join of it (a second Ctrl-C, then shutdown(job_wait_s=0))
            if job is not None and self._job is job:
                self._send_last_frame_early(job)
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass
        with self._conn_lock:
            authenticated, pending = list(self._connections.values()), list(self._pending.values())
        answer_arriving(authenticated, self._stop_reason or reason)  # a body still arriving: engine_shutdown, not a broken pipe
        for connection in [*authenticated, *pending]:
            connection.close()

    @staticmethod
    def _send_last_frame_early(job: EngineJob) -> None:
        """Send the stopped job's last frame from the shutdown, within 1 s, while its batch still runs.

        Its client then hears ``engine_shutdown`` rather than a lost connection; the batch's result,
        if it ever comes, is dropped (the job thread finds the last frame claimed).
        """
        if job.claim_last_frame():
            send_within(job.connection, job.stopped_frame(), 1.0, f"sdseg-stop-{job.job_id}")

    # ------------------------------------------------------------------ connections
    def _serve_connection(self, sock: socket.socket, peer: Any) -> None:
        connection = Connection(sock, peer)
        with self._conn_lock:  # a full authenticating pool drops its oldest: a real hello comes within milliseconds
            full = len(self._pending) >= PENDING_PER_CONNECTION * self.options.max_connections
            oldest = self._pending.pop(next(iter(self._pending))) if full else None
            self._pending[id(connection)] = connection
        if oldest is not None:
            oldest.close()  # its thread's read fails and it ends
        try:
            authenticated = self._authenticate(connection)
            with self._conn_lock:
                self._pending.pop(id(connection), None)
                too_many = authenticated and len(self._connections) >= self.options.max_connections
                if authenticated and not too_many:
                    self._connections[id(connection)] = connection
            if too_many:
                connection.send({"type": "error", "code": "busy", "reason": "connections",
                                 "message": "too many connections to this engine; close idle clients."})
            if not authenticated or too_many:
                return
            self._welcome(connection)
            sock.settimeout(self.options.io_timeout_s)  # a stall in the middle of a frame, either way
            deadline = UploadDeadline(sock, self.options.io_timeout_s, self.options.upload_min_bytes_per_s,
                                      self.options.upload_floor_s)  # and a trickle: the whole frame (PROTOCOL.md)
            while not self._stop.is_set() and connection.open:
                if not wait_readable(sock, 0.5):  # idle between requests: no limit, but see shutdown
                    continue
                connection.begin_request()  # from here until end_request a shutdown answers the request (engine_farewell)
                try:
                    frame, held = receive_request(sock, self.options.max_header_bytes, self.options.max_request_bytes, self._budget,
                                                  on_header=connection.name_request, deadline=deadline)
                except ProtocolError as exc:  # BudgetExceeded too: busy, its body read and dropped
                    if exc.code == UPLOAD_TOO_SLOW:
                        log.warning("dropping the connection from %s: %s", connection.peer, exc.message)
                    if connection.end_request():
                        connection.send({"type": "error", "code": exc.code, "message": exc.message, **getattr(exc, "fields", {})})
                    if exc.fatal:
                        return
                    continue
                except socket.timeout:
                    log.warning("dropping the connection from %s: it stopped for %s s in the middle of a frame",
                                connection.peer, seconds_text(self.options.io_timeout_s))
                    stalled = seconds_text(self.options.io_timeout_s)
                    connection.send({"type": "error", "code": "io_timeout",
                                     "message": f"the request stopped arriving for {stalled} s in the middle of a frame; "
                                                "the connection is closed. Send each frame without pausing."})
                    return
                if not connection.end_request():  # the shutdown already told its client: nothing more for it
                    held.release()
                    return
                self._last_activity = time.monotonic()
                try:
                    keep = self._dispatch(connection, frame, held)
                finally:
                    frame = None  # the body goes before its bytes go back to the budget (a job keeps its own share)
                    held.release()
                if not keep:
                    return
        except (ConnectionError, OSError):
            pass
        except Exception:  # noqa: BLE001 - a bad peer must never take the engine down with it
            log.exception("connection from %s failed", peer)
            connection.send({"type": "error", "code": "internal_error", "message": "the engine failed on this connection; see its log."})
        finally:
            self._drop_connection(connection)

    def _drop_connection(self, connection: Connection) -> None:
        """Forget a connection whose thread ends and close it; its job is cancelled.

        When the engine is stopping, the running job first gets :data:`SHUTDOWN_JOIN_S` to send its
        last frame (``engine_shutdown``): closing at once would leave its client with a broken connection.
        """
        job, stopping = self._job, self._stop.is_set()
        if job is not None and job.connection is connection:
            job.cancel(self._stop_reason if stopping else None)  # not stopping: nobody is left to receive the result
        thread = self._job_thread
        if stopping and thread is not None and thread is not threading.current_thread():
            thread.join(timeout=SHUTDOWN_JOIN_S)
        with self._conn_lock:
            if self._connections.pop(id(connection), None) is not None:  # the idle clock starts when a client leaves
                self._last_activity = time.monotonic()
            self._pending.pop(id(connection), None)
        connection.close()

    def _authenticate(self, connection: Connection) -> bool:
        """Read and check the hello (:func:`~SDSegLogic.server.engine_handshake.authenticate`); False once refused."""
        return authenticate(connection, self.options)

    def _welcome(self, connection: Connection) -> None:
        """Answer an authenticated hello (:func:`~SDSegLogic.server.engine_handshake.welcome_frame`)."""
        connection.send(welcome_frame(self.predictor, self.options))

    def _busy(self) -> bool:
        """``busy`` of pong and info: a job runs, or a body of the largest accepted size would not fit the budget now."""
        return self._job is not None or self._budget.available < self.options.max_request_bytes

    def _dispatch(self, connection: Connection, frame: Frame, held: BodyReservation) -> bool:
        """Handle one request (``held``: its body's share of the budget); returns False when the connection should close."""
        kind = frame.type
        if kind == "ping":
            connection.send({"type": "pong", "busy": self._busy()})
        elif kind == "info":
            connection.send({"type": "info", **engine_info(self.predictor, self.options, busy=self._busy())})
        elif kind == "segment":
            self._start_job(connection, frame, held)
        elif kind == "cancel":
            self._cancel(connection, frame.header.get("job_id"))
        elif kind == "shutdown":
            connection.send({"type": "bye"})
            log.info("shutdown requested by a client")
            self.stop("request")  # before this connection closes: its own job, if any, reports the shutdown
            threading.Thread(target=self.shutdown, args=("request",), daemon=True).start()
            return False
        elif kind == "hello":
            connection.send({"type": "error", "code": "bad_request", "message": "already authenticated."})
        else:
            connection.send({"type": "error", "code": "unknown_request",
                             "message": f"unknown request {short_repr(kind, 40)}; expected ping, info, segment, cancel or shutdown."})
        return True
