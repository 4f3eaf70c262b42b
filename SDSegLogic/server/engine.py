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
  work within one batch and no partial result is ever sent.

A connection's frames are written under that connection's send lock, so the job thread's events
and the connection thread's replies never interleave (:class:`~SDSegLogic.server.connection.Connection`).
After ``hello`` every socket has a timeout of ``io_timeout_s``: a peer that stops in the middle of
a frame it sends, or stops reading the frames it is sent, is disconnected (and its job cancelled)
instead of holding a thread, the job slot or the engine's shutdown for ever.
"""

from __future__ import annotations

import hmac
import logging
import socket
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from ..errors import CancelledError, SDSegError
from .connection import Connection
from .protocol import (
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
    PROTOCOL_VERSION,
    Frame,
    ProtocolError,
    geometry_from_json,
    geometry_to_json,
    recv_frame,
    wait_readable,
)
from .jobs import DEFAULT_OPTIONS, SegmentRequest, classify_exception, engine_info, parse_segment_request

__all__ = ["EngineOptions", "EngineServer", "LOOPBACK_HOSTS"]

log = logging.getLogger("SDSegLogic.server")
LOOPBACK_HOSTS = ("127.0.0.1", "::1")


PENDING_PER_CONNECTION = 4  #: connections still authenticating (each for <= auth_timeout_s) per allowed one


@dataclass(frozen=True)
class EngineOptions:
    """Engine limits and binding.

    Attributes:
        host: bind address; loopback unless ``allow_remote``.
        port: 0 picks a free ephemeral port.
        token: the shared secret every connection must present in ``hello``.
        max_request_bytes: largest request body accepted (checked from the frame prefix).
        max_header_bytes: largest JSON header accepted.
        max_connections: simultaneous authenticated connections; more are refused with ``busy``
            after their hello (authenticating ones are counted apart).
        auth_timeout_s: a new connection must authenticate within this time.
        idle_timeout_s: exit after this long without any connection (0: never).
        allow_remote: permit a non-loopback ``host`` (the token is required either way).
        io_timeout_s: an authenticated peer that stops for this long in the middle of a frame,
            or stops reading what the engine sends, is disconnected (its job is cancelled).
    """

    token: str
    host: str = "127.0.0.1"
    port: int = 0
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_connections: int = 8
    auth_timeout_s: float = 10.0
    idle_timeout_s: float = 0.0
    allow_remote: bool = False
    io_timeout_s: float = 60.0

    def validate(self) -> None:
        """Raise SDSegError naming the first unusable option and its remedy."""
        if len(self.token) < 16:
            raise SDSegError("engine token is shorter than 16 characters; use secrets.token_urlsafe(32).")
        if not 0 <= self.port <= 65535:
            raise SDSegError(f"port {self.port} is not a TCP port; use 0 (any free port) or 1..65535.")
        for name in ("max_request_bytes", "max_header_bytes", "max_connections", "auth_timeout_s", "io_timeout_s"):
            if not getattr(self, name) > 0:
                raise SDSegError(f"engine option {name}={getattr(self, name)!r} must be > 0.")
        if not self.idle_timeout_s >= 0:
            raise SDSegError(f"idle timeout {self.idle_timeout_s!r} s must be >= 0 (0: never exit when idle).")
        if self.host not in LOOPBACK_HOSTS and not self.allow_remote:
            raise SDSegError(
                f"refusing to bind {self.host!r}: the engine listens on loopback (127.0.0.1) only. "
                "Pass --allow-remote to serve other machines (the token is still required)."
            )


class _Job:
    def __init__(self, job_id: str, connection: Connection, request: SegmentRequest) -> None:
        self.job_id = job_id
        self.connection = connection
        self.request = request
        self.cancel_event = threading.Event()
        self.thread: Optional[threading.Thread] = None


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
        self._job_lock = threading.Lock()
        self._job: Optional[_Job] = None
        self._connections: Dict[int, Connection] = {}
        self._pending: Dict[int, Connection] = {}  # accepted, not yet authenticated
        self._conn_lock = threading.Lock()
        self._last_activity = time.monotonic()
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    def bind(self) -> int:
        """Open the listening socket; returns the port (the chosen one when ``port`` is 0)."""
        family = socket.AF_INET6 if ":" in self.options.host else socket.AF_INET
        self._listener = socket.create_server((self.options.host, self.options.port), family=family, backlog=16)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        return self.port

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown`, a ``shutdown`` request or the idle timeout."""
        if self._listener is None:
            self.bind()
        self._last_activity = time.monotonic()  # the idle clock starts now, not while the model loaded
        try:
            while not self._stop.is_set():
                try:
                    sock, peer = self._listener.accept()
                except socket.timeout:
                    idle = self.options.idle_timeout_s
                    with self._conn_lock:
                        busy = bool(self._connections) or self._job is not None
                    if idle and not busy and time.monotonic() - self._last_activity > idle:
                        log.info("no client for %.0f s; exiting (idle timeout)", idle)
                        break
                    continue
                except OSError:
                    break
                self._last_activity = time.monotonic()
                threading.Thread(target=self._serve_connection, args=(sock, peer), daemon=True,
                                 name=f"sdseg-conn-{peer}").start()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop accepting, cancel the running job and close every connection (idempotent).

        Returns within a few seconds even when a client has stopped reading: closing a
        connection shuts its socket down first, which wakes a sender blocked on it.
        """
        self._stop.set()
        job = self._job
        if job is not None:
            job.cancel_event.set()
            if job.thread is not None and job.thread is not threading.current_thread():
                job.thread.join(timeout=5.0)
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass
        with self._conn_lock:
            connections = [*self._connections.values(), *self._pending.values()]
        for connection in connections:
            connection.close()

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
                connection.send({"type": "error", "code": "busy", "message": "too many connections to this engine; close idle clients."})
            if not authenticated or too_many:
                return
            self._welcome(connection)
            sock.settimeout(self.options.io_timeout_s)  # a stall in the middle of a frame, either way
            while not self._stop.is_set() and connection.open:
                if not wait_readable(sock, 0.5):  # idle between requests: no limit, but see shutdown
                    continue
                try:
                    frame = recv_frame(sock, self.options.max_header_bytes, self.options.max_request_bytes)
                except ProtocolError as exc:
                    connection.send({"type": "error", "code": exc.code, "message": exc.message})
                    if exc.fatal:
                        return
                    continue
                except socket.timeout:
                    log.warning("dropping the connection from %s: it stopped for %.0f s in the middle of a frame",
                                connection.peer, self.options.io_timeout_s)
                    connection.send({"type": "error", "code": "io_timeout",
                                     "message": f"the request stopped arriving for {self.options.io_timeout_s:.0f} s in the middle "
                                                "of a frame; the connection is closed. Send each frame without pausing."})
                    return
                self._last_activity = time.monotonic()
                if not self._dispatch(connection, frame):
                    return
        except (ConnectionError, OSError):
            pass
        except Exception:  # noqa: BLE001 - a bad peer must never take the engine down with it
            log.exception("connection from %s failed", peer)
            connection.send({"type": "error", "code": "internal_error", "message": "the engine failed on this connection; see its log."})
        finally:
            job = self._job
            if job is not None and job.connection is connection:
                job.cancel_event.set()  # nobody is left to receive the result
            with self._conn_lock:
                self._connections.pop(id(connection), None)
                self._pending.pop(id(connection), None)
            connection.close()

    def _authenticate(self, connection: Connection) -> bool:
        connection.sock.settimeout(self.options.auth_timeout_s)
        try:
            frame = recv_frame(connection.sock, 4096, 0)
        except ProtocolError as exc:
            connection.send({"type": "error", "code": exc.code, "message": exc.message})
            return False
        except socket.timeout:
            connection.send({"type": "error", "code": "auth_timeout", "message": "no hello within the authentication timeout."})
            return False
        if frame.type != "hello":
            connection.send({"type": "error", "code": "unauthenticated", "message": f"the first message must be 'hello' with the token, got {frame.type!r}."})
            return False
        token = frame.header.get("token")
        # surrogatepass: a JSON "\ud800" is a str that strict UTF-8 cannot encode; it is just a wrong token
        good = isinstance(token, str) and hmac.compare_digest(token.encode("utf-8", "surrogatepass"), self.options.token.encode("utf-8"))
        if not good:
            log.warning("rejected a connection from %s: bad token", connection.peer)
            connection.send({"type": "error", "code": "bad_token", "message": "the engine token is wrong; read it again from the engine's token file."})
            return False
        version = frame.header.get("protocol")
        if version != PROTOCOL_VERSION:
            connection.send({"type": "error", "code": "protocol_version",
                             "message": f"client speaks protocol {version!r}, this engine speaks {PROTOCOL_VERSION}; update the older side."})
            return False
        return True

    def _welcome(self, connection: Connection) -> None:
        """Answer an authenticated hello: versions, model, device, limits and the segment options."""
        from .. import __version__

        card = getattr(self.predictor, "model_card", None)
        connection.send({"type": "welcome", "protocol": PROTOCOL_VERSION, "engine_version": __version__,
                         "model_id": getattr(card, "model_id", ""), "device": str(getattr(self.predictor, "device", "")),
                         "limits": {"max_request_bytes": self.options.max_request_bytes, "max_header_bytes": self.options.max_header_bytes},
                         "segment_options": sorted(DEFAULT_OPTIONS)})

    def _dispatch(self, connection: Connection, frame: Frame) -> bool:
        """Handle one request; returns False when the connection should close."""
        kind = frame.type
        if kind == "ping":
            connection.send({"type": "pong", "busy": self._job is not None})
        elif kind == "info":
            connection.send({"type": "info", **engine_info(self.predictor, self.options, busy=self._job is not None)})
        elif kind == "segment":
            self._start_job(connection, frame)
        elif kind == "cancel":
            job = self._job
            wanted = frame.header.get("job_id")
            hit = job is not None and (wanted in (None, job.job_id))
            if hit:
                job.cancel_event.set()
            connection.send({"type": "cancel_ack", "job_id": wanted, "was_running": bool(hit)})
        elif kind == "shutdown":
            connection.send({"type": "bye"})
            log.info("shutdown requested by a client")
            threading.Thread(target=self.shutdown, daemon=True).start()
            return False
        elif kind == "hello":
            connection.send({"type": "error", "code": "bad_request", "message": "already authenticated."})
        else:
            connection.send({"type": "error", "code": "unknown_request",
                             "message": f"unknown request {kind!r}; expected ping, info, segment, cancel or shutdown."})
        return True

    # ------------------------------------------------------------------ jobs
    def _start_job(self, connection: Connection, frame: Frame) -> None:
        job_id = str(frame.header.get("job_id") or uuid.uuid4().hex[:12])
        try:
            request = parse_segment_request(frame, geometry_from_json)
        except Exception as exc:  # noqa: BLE001 - SDSegError: the client's mistake; anything else: ours, logged
            code, message = classify_exception(exc)
            if not isinstance(exc, SDSegError):
                log.exception("job %s: cannot read the segment request", job_id)
            connection.send({"type": "error", "job_id": job_id, "code": code, "message": message})
            return
        if not self._job_lock.acquire(blocking=False):
            connection.send({"type": "error", "job_id": job_id, "code": "busy",
                             "message": "the engine is already running a job (one at a time); wait for it or cancel it."})
            return
        job = _Job(job_id, connection, request)
        self._job = job
        job.thread = threading.Thread(target=self._run_job, args=(job,), daemon=True, name=f"sdseg-job-{job_id}")
        job.thread.start()

    def _run_job(self, job: _Job) -> None:
        request, send = job.request, job.connection.send
        started = time.monotonic()
        log.info("job %s: %s %s, options %s", job.job_id, request.image.dtype, tuple(request.image.shape), request.options)

        def progress(done: int, total: int) -> None:
            # same estimate as SDSegLogic.progress.ProgressTracker, timed from the job's start
            elapsed = time.monotonic() - started
            eta = 0.0 if done >= total else (elapsed / done * (total - done) if done > 0 else None)
            send({"type": "progress", "job_id": job.job_id, "done": int(done), "total": int(total),
                  "elapsed_s": round(elapsed, 3), "eta_s": None if eta is None else round(eta, 3)})

        final: Optional[Tuple[Dict[str, Any], Optional[Dict[str, np.ndarray]]]] = None  # the job's last frame
        try:
            send({"type": "accepted", "job_id": job.job_id})
            segment = self._segment_fn
            if segment is None:
                from ..segment import segment_array as segment
            opts = request.options
            result = segment(
                request.image, request.geometry, self.predictor,
                slices=opts["slices"], batch_size=opts["batch_size"],
                num_inference_steps=opts["num_inference_steps"], num_samples=opts["num_samples"], seed=opts["seed"],
                progress=progress, should_cancel=job.cancel_event.is_set,
                keep_probabilities=bool(opts["want_probabilities"]), modality=opts["modality"],
                strict_channels=opts["strict"], strict_modality=opts["strict"],  # a mismatch: InputError -> input_error
                nan_policy=opts["nan_policy"],
            )
            if job.cancel_event.is_set():
                raise CancelledError("cancelled after the last batch")
            arrays = {"labels": np.ascontiguousarray(result.labels, dtype=np.uint8)}
            if opts["want_probabilities"] and result.probabilities is not None:
                arrays["probabilities"] = np.asarray(result.probabilities, dtype=np.float32)
            if opts["want_variance"] and result.variance is not None:
                arrays["variance"] = np.asarray(result.variance, dtype=np.float32)
            final = ({"type": "result", "job_id": job.job_id, "geometry": geometry_to_json(result.geometry),
                      "model_id": getattr(result, "model_id", ""), "model_version": getattr(result, "model_version", ""),
                      "voxel_counts": dict(getattr(result, "voxel_counts", {}) or {}), "options": opts,
                      "warnings": [str(w) for w in getattr(result, "warnings", ()) or ()],
                      "seconds": round(time.monotonic() - started, 3)}, arrays)
            log.info("job %s: done in %.2f s", job.job_id, time.monotonic() - started)
        except CancelledError:
            log.info("job %s: cancelled after %.2f s", job.job_id, time.monotonic() - started)
            final = ({"type": "cancelled", "job_id": job.job_id}, None)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error event
            code, message = classify_exception(exc)
            if code in ("internal_error",):
                log.error("job %s failed:\n%s", job.job_id, traceback.format_exc())
            else:
                log.warning("job %s: %s: %s", job.job_id, code, message)
            final = ({"type": "error", "job_id": job.job_id, "code": code, "message": message}, None)
        finally:
            # the slot is free before the last frame goes out: a client that sends its next job as
            # soon as it holds this one's result must not find the engine busy
            self._job = None
            self._job_lock.release()
        if final is not None:
            send(*final)
