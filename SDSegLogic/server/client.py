"""Pure-Python client of the SDSeg engine (standard library + NumPy; no Qt, no torch).

Two pieces:

* :class:`EngineProcess` starts ``python -m SDSegLogic.server`` as a child process with a fresh
  token in a private 0600 file, waits for its ``ready`` line and stops it again;
* :class:`EngineClient` talks to a running engine, local or remote (``sdseg://host:port`` + token).

A segment call is blocking and reports progress through a callback; to keep a GUI responsive, run
it in a worker thread and call :meth:`EngineClient.cancel` from the GUI thread (the Slicer module
does exactly that, see ``SDSegExtension/SDSegLib/engine_runner.py``). No wait is unbounded: every
read has a timeout, and during a job an engine that goes silent is pinged and, if it does not
answer, reported as :class:`EngineDiedError`.

:class:`EngineError`, :class:`EngineDiedError`, :class:`EngineShutdownError`, :class:`SegmentOutput` and
:func:`parse_engine_url` live in :mod:`SDSegLogic.server.client_types` and are imported from here.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
import uuid
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

from ..errors import CancelledError
from ..geometry import ImageGeometry
from .client_job import ClientJob, check_timeout, require_options, segment_options, volume_to_send
from .client_liveness import JobLiveness
from .client_replies import ends_job, job_outcome, pending_error
from .client_types import (CancelledByOtherClientError, EngineBusyError, EngineDiedError, EngineError, EngineShutdownError, SegmentOutput,
                           error_from_header, parse_engine_url)
from .protocol import PROTOCOL_VERSION, Frame, ProtocolError, geometry_to_json, send_frame, wait_readable
from .receive_arrays import recv_frame_owned
from .wire_values import short_repr

__all__ = ["CancelledByOtherClientError", "EngineBusyError", "EngineError", "EngineDiedError", "EngineShutdownError", "SegmentOutput",
           "EngineClient", "EngineProcess", "parse_engine_url"]

_MAX_REPLY_BYTES = 1 << 40


class EngineClient:
    """One authenticated connection to an engine.

    Args:
        host, port: where the engine listens.
        token: the engine's secret.
        timeout: seconds to wait for connect/hello, for each reply of a short request, for each
            piece of a frame in transit (so a slow but steady upload of a large volume is never cut
            off), and for the answer to a liveness ping during a job.
        process: the local :class:`EngineProcess`, if any; used to report a dead engine clearly.

    Attributes:
        heartbeat_s: during a job, after this many seconds without any frame from the engine the
            client sends a ``ping``; an engine that answers nothing within ``timeout`` seconds more
            is reported as :class:`EngineDiedError` (hung or stopped process, network gone)
            instead of being waited for for ever.
    """

    heartbeat_s: float = 30.0

    def __init__(self, host: str, port: int, token: str, timeout: float = 10.0, process: Optional[Any] = None) -> None:
        check_timeout(timeout)
        self.host, self.port, self._token, self.timeout = host, int(port), token, timeout
        self.process = process
        self._sock: Optional[socket.socket] = None
        self._send_lock = threading.Lock()
        self._job = ClientJob()  # the running segment call's job, and a cancel that came before it was sent
        self._pongs_due = 0  # answers to liveness pings still on their way
        self.welcome: Dict[str, Any] = {}

    @classmethod
    def from_url(cls, url: str, token: str, timeout: float = 10.0) -> "EngineClient":
        host, port = parse_engine_url(url)
        return cls(host, port, token, timeout=timeout)

    # ------------------------------------------------------------------ connection
    def connect(self) -> "EngineClient":
        """Open the connection and authenticate; raises EngineError (e.g. ``bad_token``)."""
        if self._sock is not None:
            return self
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            self._raise_dead(f"cannot connect to the engine at {self.host}:{self.port} ({exc})")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        try:
            self._send({"type": "hello", "protocol": PROTOCOL_VERSION, "token": self._token, "client": "SDSegLogic.server.client"})
            reply = self._recv()
        except BaseException:
            self.close()  # never left half-open: the next connect() starts over
            raise
        if reply.get("type") != "welcome":
            self.close()
            if reply.get("type") == "error":  # bad_token, protocol_version, busy...: the engine's own code and words
                raise error_from_header(reply)
            raise EngineError("protocol_error", f"unexpected reply to 'hello' (expected 'welcome'): {short_repr(reply)}")
        self.welcome = reply
        return self

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._pongs_due = 0
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def abort(self) -> None:
        """Shut the connection down from any thread: a ``segment`` or request blocked on it returns at once.

        Unlike :meth:`close`, the socket object stays with the thread that uses it (which fails
        with a lost connection and closes it), so its file descriptor cannot be reused under a
        blocked call. The engine cancels the job of a closed connection. Nothing happens when
        the client is not connected.
        """
        sock = self._sock
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed
            pass

    def __enter__(self) -> "EngineClient":
        return self.connect()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _raise_dead(self, what: str) -> None:
        """Close and raise EngineDiedError: ``what``, the local process's state, the remedy, then its log (last)."""
        detail, tail = "", ""
        if self.process is not None:
            code = self.process.wait(timeout=2.0)
            state = "is still running but not answering" if code is None else f"exited with code {code}"
            detail = f"; the engine process (pid {self.process.pid}) {state}"
            tail = (self.process.log_tail() or "").strip()
            tail = f" Last engine log lines:\n{tail}" if tail else " Its log is empty."
        self.close()
        raise EngineDiedError("engine_died", f"{what}{detail}. Stop the engine and start it again (Segment restarts an engine "
                                             f"that exited).{tail}")  # the log last: nothing of this client is glued to its last line

    def _send(self, header: Dict[str, Any], arrays: Optional[Dict[str, np.ndarray]] = None) -> None:
        sock = self._sock  # read once: close() from another thread may set it to None at any moment
        if sock is None:
            raise EngineError("not_connected", "the client is not connected; call connect() first.")
        try:
            with self._send_lock:
                send_frame(sock, header, arrays)
        except OSError as exc:
            reason = pending_error(sock)  # the engine may have said why it closed the connection
            if reason is not None:
                self.close()
                raise error_from_header(reason) from None
            self._raise_dead(f"lost the connection to the engine while sending ({exc})")

    def _recv_frame(self, timeout: Optional[float]) -> Frame:
        sock = self._sock
        if sock is None:
            raise EngineError("not_connected", "the client is not connected; call connect() first.")
        try:
            sock.settimeout(timeout)
            return recv_frame_owned(sock, 1 << 24, _MAX_REPLY_BYTES)  # result arrays of their own, never copied
        except socket.timeout:
            self.close()  # the late reply (or the rest of this one) would answer the next request
            raise EngineError("timeout", f"the engine at {self.host}:{self.port} sent nothing for {timeout:g} s while a reply was "
                              "due; the connection is closed (the next request reconnects). If the engine is busy loading or "
                              "far away, use a longer client timeout.") from None
        except ProtocolError as exc:
            self.close()
            raise EngineError(exc.code, f"the engine sent an invalid frame: {exc.message}") from None
        except (ConnectionError, OSError) as exc:
            if exc.errno == errno.EBADF:  # the socket was closed here (close() from another thread), not by the engine
                raise _closed_meanwhile() from None
            self._raise_dead(f"the engine closed the connection ({exc})")

    def _readable(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the next frame to start (never times out mid-frame)."""
        sock = self._sock
        try:
            if sock is None:
                raise ConnectionError
            return wait_readable(sock, timeout)
        except (ConnectionError, OSError, ValueError):  # closed by another thread (close(), a failed cancel)
            raise _closed_meanwhile() from None

    def _recv(self, timeout: Optional[float] = -1.0) -> Dict[str, Any]:
        return self._recv_frame(self.timeout if timeout == -1.0 else timeout).header

    def _request(self, header: Dict[str, Any], expect: str) -> Dict[str, Any]:
        self.connect()
        self._send(header)
        reply = self._recv()
        while reply.get("type") == "cancel_ack" or (reply.get("type") == "pong" and self._pongs_due > 0):
            # a late answer, not ours: to a cancel that crossed its job's last frame, or to a liveness ping
            if reply["type"] == "pong":
                self._pongs_due -= 1
            reply = self._recv()
        if reply.get("type") == "error":
            raise error_from_header(reply)
        if reply.get("type") != expect:
            raise EngineError("protocol_error", f"expected {expect!r}, got {short_repr(reply.get('type'), 40)}.")
        return reply

    # ------------------------------------------------------------------ requests
    def ping(self) -> Dict[str, Any]:
        return self._request({"type": "ping"}, "pong")

    def info(self) -> Dict[str, Any]:
        """Model card, device, memory, versions and limits of the engine."""
        return self._request({"type": "info"}, "info")

    def shutdown(self) -> None:
        """Ask the engine to exit; a running job stops first and its client gets :class:`EngineShutdownError`."""
        try:
            self._request({"type": "shutdown"}, "bye")
        finally:
            self.close()

    def cancel(self, job_id: Optional[str] = None) -> None:
        """Cancel the running job; safe to call from another thread while :meth:`segment` blocks.

        The blocked :meth:`segment` call then raises :class:`SDSegLogic.errors.CancelledError`, also
        when the cancel comes while it connects (nothing is sent) or uploads the volume (the cancel
        goes out after the upload; this call returns at once). Without a running call, or with a
        ``job_id`` other than the running call's, it does nothing: the engine matches a ``job_id`` only
        against the job started on this client's own connection (PROTOCOL.md, "Job ids"), so another
        client's job, whatever its id, is never stopped by it.

        While a :meth:`segment` call runs, only it reads the connection: a cancel that cannot be sent
        shuts the connection down, and that call raises what the engine said last (e.g.
        :class:`EngineShutdownError`) or :class:`EngineDiedError`.
        """
        job = self._job.cancel_target(job_id)
        if job is not None and self._sock is not None:
            self._send_cancel(job)

    def _send_cancel(self, job_id: str) -> None:
        """Send a ``cancel`` without reading or closing the connection (a segment call may be reading it); when
        that fails (part of it may be on the wire) shut it down: the reader gets the frames sent before, then the end."""
        sock = self._sock
        if sock is None:
            return
        try:
            with self._send_lock:
                send_frame(sock, {"type": "cancel", "job_id": job_id})
        except OSError:  # also a socket closed meanwhile (EBADF) or a send timeout
            self.abort()

    def segment(
        self,
        image: np.ndarray,
        geometry: ImageGeometry,
        *,
        num_inference_steps: int = 1,
        num_samples: int = 1,
        seed: int = 0,
        slices: Optional[Sequence[int]] = None,
        batch_size: int = 8,
        want_probabilities: bool = False,
        want_variance: bool = False,
        modality: str = "",
        strict: bool = False,
        nan_policy: str = "reject",
        on_progress: Optional[Callable[[Dict[str, Any]], None]] = None,
        should_cancel: Optional[Callable[[], bool]] = None,
        poll_s: float = 0.25,
    ) -> SegmentOutput:
        """Segment a volume; blocks until the result, an error, or cancellation.

        Args:
            image: (K, J, I) scalar or (K, J, I, 3) RGB, any protocol dtype (int16 CT is fine).
            geometry: the image's grid in LPS.
            slices: ``(start, stop)`` range along the input axis the model slices across (k for an
                axial scan and an axial model), or None for all slices.
            modality: the image's modality, a DICOM Modality code (``"CT"``, ``"MR"``, ...) or
                ``"photo"`` for a 2-D colour picture; ``""`` (unknown) skips the check. One the
                model was not trained on adds a warning to :attr:`SegmentOutput.warnings`. Sent
                only when not empty, so an engine that predates the option still accepts the job.
            strict: refuse instead of warn when the image does not match what the model was trained
                on: a modality mismatch (``modality`` above) or a colour/grey channel mismatch (an
                RGB image for a grayscale model, or the reverse). The engine then answers with an
                ``input_error`` whose message names the mismatch and the remedy. Sent only when
                True, so an engine that predates the option still accepts default jobs.
            nan_policy: ``"reject"`` (an ``input_error`` naming the count and the first NaN/infinite
                voxel) or ``"fill"`` (replaced by the window minimum, with a warning). Sent only when
                ``"fill"``, for the same reason.
            on_progress: called with each ``progress`` event dict (done, total, eta_s, ...).
            should_cancel: polled once before the volume is sent (True: nothing is sent, CancelledError),
                then every ``poll_s`` seconds; when it returns True a cancel is sent.

        Raises:
            InputError: a count, ``seed`` or a ``slices`` bound that is not a whole number (``2.5``, ``True``); nothing is sent.
            CancelledError: the job was cancelled by :meth:`cancel` or ``should_cancel`` (nothing
                partial is returned); :class:`CancelledByOtherClientError`, a subclass, when a
                ``cancel`` from another connection stopped it.
            EngineShutdownError: the engine shut down while the job ran (code ``engine_shutdown``;
                ``reason`` says why): someone else stopped it, not a cancel. The connection is
                closed; start the engine again and run the job again. An engine older than this
                error ends the job with ``cancelled`` instead, so that is CancelledError.
            EngineBusyError: code ``busy``: the engine runs another job, or other requests fill its
                budget for request bodies (``reason`` says which); wait until a ping says not busy,
                then call again. The connection stays usable.
            EngineError: the engine rejected or failed the job (``code`` says why; ``input_error``
                for a mismatch refused under ``strict``; ``engine_too_old`` when the engine does not
                know an option this client sends, such as ``strict`` or ``modality``; ``protocol_error`` for a result
                that does not fit the request: :mod:`~SDSegLogic.server.client_result`).
            EngineDiedError: the engine process died, the connection broke, or the engine stopped
                answering (no frame for :attr:`heartbeat_s`, then no answer to a ping within
                ``timeout``). After any exception other than the job's own ``result``, ``cancelled``
                or ``error``, the connection is closed (the engine cancels the job); the next request
                reconnects.
        """
        job_id = uuid.uuid4().hex[:12]
        self._job.begin(job_id)  # from now on cancel() is for this job, even before it is sent
        settled = True  # nothing was sent, or this job's last frame arrived: the stream is in step for the next request
        try:
            self.connect()
            options = segment_options(num_inference_steps=num_inference_steps, num_samples=num_samples, seed=seed, slices=slices,
                                      batch_size=batch_size, want_probabilities=want_probabilities, want_variance=want_variance,
                                      modality=modality, strict=strict, nan_policy=nan_policy)
            require_options(self.welcome, options)
            array = volume_to_send(image, self.welcome)
            if self._job.cancel_wanted() or (should_cancel is not None and should_cancel()):  # while connecting: nothing is sent
                raise CancelledError("segmentation cancelled before the volume was sent; nothing ran or was written.")
            settled = False
            self._send({"type": "segment", "job_id": job_id, "geometry": geometry_to_json(geometry), "options": options}, {"image": array})
            cancel_sent, liveness = self._job.mark_sent(), JobLiveness(self.heartbeat_s, self.timeout, time.monotonic())
            if cancel_sent:  # cancel() during the upload: it could only go out now
                self._send_cancel(job_id)
            while True:
                if not self._readable(poll_s):
                    self._check_alive(liveness)
                else:
                    frame = self._recv_frame(self.timeout)  # a whole frame; the timeout bounds a stall inside it
                    liveness.heard_from(time.monotonic())  # any frame shows the engine is alive
                    header = frame.header
                    kind = header.get("type")
                    if kind == "pong":
                        self._pongs_due = max(0, self._pongs_due - 1)
                    elif kind == "progress" and header.get("job_id") == job_id and on_progress is not None:
                        on_progress(header)
                    elif ends_job(header, job_id):  # result, cancelled or error: the stream is in step again
                        settled = True
                        try:
                            return job_outcome(frame, self.welcome, (array.shape[:3], geometry, options))
                        except EngineShutdownError:
                            self.close()  # the engine closes its side too; the next request reconnects
                            raise
                if should_cancel is not None and not cancel_sent and should_cancel():
                    self.cancel(job_id)
                    cancel_sent = True
        finally:
            self._job.end()
            if not settled:  # a callback raised, a timeout...: the engine cancels the job of a closed
                self.close()  # connection, and none of its frames can answer this client's next request

    def _check_alive(self, liveness: JobLiveness) -> None:
        """Liveness during a job, after a wait without frames: ping a silent engine, report a dead one.

        Raises:
            EngineDiedError: the local engine process exited, or the engine sent nothing for
                :attr:`heartbeat_s` and then did not answer a ping within ``timeout`` seconds.
        """
        if self.process is not None and self.process.poll() is not None:
            self._raise_dead("the engine process stopped during the job")
        now = time.monotonic()
        step = liveness.step(now)
        if step == "ping":
            self._send({"type": "ping"})  # answered by the engine's connection thread even while it computes
            self._pongs_due += 1
        elif step == "dead":
            self._raise_dead(f"the engine at {self.host}:{self.port} sent nothing for {liveness.silence(now)} s during the job and "
                             f"did not answer a ping within {self.timeout:g} s: it is hung or stopped, or the network to it is down")


def _closed_meanwhile() -> EngineError:
    """``not_connected``: this client's connection was closed by another of its threads while this one used it."""
    return EngineError("not_connected", "the connection to the engine was closed while waiting for it "
                       "(close() was called, or a cancel could not be sent); connect again.")


from .process import EngineProcess  # noqa: E402 - the process launcher, in process.py (it needs EngineClient, defined above)
