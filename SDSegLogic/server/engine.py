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
import uuid
from typing import Any, Callable, Dict, Optional

from ..errors import SDSegError
from .connection import Connection
from .engine_farewell import answer_arriving, send_within
from .engine_handshake import authenticate, welcome_frame
from .engine_options import LOOPBACK_HOSTS, PENDING_PER_CONNECTION, EngineOptions, loopback_address
from .job_runner import LastFrame, run_segment
from .job_state import EngineJob, check_shutdown_reason, not_started_error
from .jobs import classify_exception, engine_info, parse_segment_request
from .log_text import log_safe
from .protocol import Frame, ProtocolError, geometry_from_json, wait_readable
from .receive_budget import BodyReservation, ReceiveBudget, receive_request
from .upload_deadline import UPLOAD_TOO_SLOW, UploadDeadline
from .wire_values import job_id_text, request_job_id

__all__ = ["EngineOptions", "EngineServer", "LOOPBACK_HOSTS", "PENDING_PER_CONNECTION", "SHUTDOWN_JOIN_S"]

log = logging.getLogger("SDSegLogic.server")
SHUTDOWN_JOIN_S = 5.0  #: how long a shutdown waits for the running job to stop and send its last frame
ACCEPT_RETRY_S = 0.1  #: pause after a failed accept (out of file descriptors...) before the next try


def seconds_text(seconds: float) -> str:
    """A duration for a message: ``0.3``, ``60``, ``3600`` (``%.0f`` said ``0`` for anything under half a second)."""
    return f"{seconds:g}" if seconds < 1000 else f"{seconds:.0f}"


class EngineServer:
    """Serve one loaded predictor over the SDSeg protocol.

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
                             "message": f"unknown request {kind!r}; expected ping, info, segment, cancel or shutdown."})
        return True

    def _cancel(self, connection: Connection, wanted: Any) -> None:
        """Answer a ``cancel`` naming ``wanted`` (its ``job_id``; PROTOCOL.md, "Job ids").

        An id names a job of this connection only: job ids are the client's own, so two clients that
        both number their jobs from 1 could otherwise cancel each other's. No id (missing or ``null``)
        is the running job, whichever connection started it (its client is told ``by another_client``).
        ``""`` names no job, as for ``segment``: refused with ``bad_request`` rather than answered
        ``was_running: false`` as if the job had ended.
        """
        if wanted == "":
            connection.send({"type": "error", "job_id": "", "code": "bad_request",
                             "message": "cancel job_id \"\" names no job: an empty id is not a job id. Send the id of the "
                                        "segment request, or the one its 'accepted' frame told (when it named none); leave "
                                        "job_id out to cancel the running job."})
            return
        job = self._job
        hit = job is not None and (wanted is None or (job.connection is connection and job_id_text(wanted) == job.job_id))
        if hit:
            job.cancel(by_other_client=connection is not job.connection)
        # echoed as the engine compares it, a string: a number such as 1e400 (read as inf) could not be encoded back
        connection.send({"type": "cancel_ack", "job_id": None if wanted is None else job_id_text(wanted), "was_running": bool(hit)})

    # ------------------------------------------------------------------ jobs
    def _start_job(self, connection: Connection, frame: Frame, held: BodyReservation) -> None:
        given = request_job_id(frame.header)  # 0 is an id (a client numbering its jobs from 0); only none or "" is not
        job_id = given if given is not None else uuid.uuid4().hex[:12]  # told in "accepted"; a refusal says null
        try:
            request = parse_segment_request(frame, geometry_from_json)
        except Exception as exc:  # noqa: BLE001 - SDSegError: the client's mistake; anything else: ours, logged
            code, message = classify_exception(exc)
            if not isinstance(exc, SDSegError):
                log.exception("job %s: cannot read the segment request", log_safe(job_id))
            connection.send({"type": "error", "job_id": given, "code": code, "message": message})
            return
        if not self._job_lock.acquire(blocking=False):
            connection.send({"type": "error", "job_id": given, "code": "busy", "reason": "job_running",
                             "message": "the engine is already running a job (one at a time); wait for it or cancel it."})
            return
        job = EngineJob(job_id, connection, request, held.hand_over())  # the image is the job's now, and so are its bytes
        self._job = job
        if self._stop.is_set():  # after self._job is set: a shutdown that began earlier may not have seen this job
            self._refuse_while_stopping(job, given)
            return
        job.thread = self._job_thread = threading.Thread(target=self._run_job, args=(job,), daemon=True,
                                                         name=f"sdseg-job-{job_id}")
        try:
            job.thread.start()
        except BaseException:  # no thread: nothing else would ever free the slot or the budget
            self._job = None
            job.release_request()
            self._job_lock.release()
            raise

    def _refuse_while_stopping(self, job: EngineJob, given: Optional[str]) -> None:
        """Free the slot of a job whose request finished arriving after the shutdown began, and tell its client.

        Such a job used to start (the connection thread checks for a shutdown only between requests)
        and run under an engine that was closing its connections: its client lost it to a broken connection.
        """
        self._job = None
        job.release_request()
        self._job_lock.release()
        if job.claim_last_frame():
            job.connection.send(not_started_error(given, self._stop_reason or "stopped"))  # given: the id the client knows

    def _run_job(self, job: EngineJob) -> None:
        final: Optional[LastFrame] = None
        try:
            final = run_segment(job, self.predictor, self._segment_fn)
        finally:
            # the slot, the image and its budget are free before the last frame goes out: a client that
            # sends its next job as soon as it holds this one's result must not find the engine busy
            self._job = None
            job.release_request()
            self._job_lock.release()
        if final is not None and job.claim_last_frame():  # not when a shutdown that could not wait sent it
            job.connection.send(*final)
