"""Pure-Python client of the SDSeg engine (standard library + NumPy; no Qt, no torch).

Two pieces:

* :class:`EngineProcess` starts ``python -m SDSegLogic.server`` as a child process with a fresh
  token in a private 0600 file, waits for its ``ready`` line and stops it again;
* :class:`EngineClient` talks to a running engine, local or remote (``sdseg://host:port`` + token).

A segment call is blocking and reports progress through a callback; to keep a GUI responsive, run
it in a worker thread and call :meth:`EngineClient.cancel` from the GUI thread (the Slicer module
does exactly that, see ``SDSegExtension/SDSegLib/engine_runner.py``).
"""

from __future__ import annotations

import select
import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Sequence, Tuple
from urllib.parse import urlparse

import numpy as np

from ..errors import CancelledError, SDSegError
from ..geometry import ImageGeometry
from .protocol import PROTOCOL_VERSION, ProtocolError, geometry_from_json, geometry_to_json, recv_frame, send_frame

__all__ = ["EngineError", "EngineDiedError", "SegmentOutput", "EngineClient", "EngineProcess", "parse_engine_url"]

_MAX_REPLY_BYTES = 1 << 40


class EngineError(SDSegError):
    """The engine answered with an ``error`` event. ``code`` is machine-readable (see PROTOCOL.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} [engine error: {code}]")
        self.code = code
        self.message = message


class EngineDiedError(EngineError):
    """The engine process exited or the connection broke in the middle of a request."""


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
    """``sdseg://host:port`` (or ``tcp://host:port``, or ``host:port``) -> (host, port)."""
    text = url.strip()
    if "://" not in text:
        text = "sdseg://" + text
    parsed = urlparse(text)
    if parsed.scheme not in ("sdseg", "tcp") or not parsed.hostname or not parsed.port:
        raise SDSegError(f"engine URL {url!r} must look like sdseg://127.0.0.1:50123 (scheme sdseg or tcp, host and port).")
    return parsed.hostname, parsed.port


class EngineClient:
    """One authenticated connection to an engine.

    Args:
        host, port: where the engine listens.
        token: the engine's secret.
        timeout: seconds to wait for connect/hello and for each reply of a short request.
        process: the local :class:`EngineProcess`, if any; used to report a dead engine clearly.
    """

    def __init__(self, host: str, port: int, token: str, timeout: float = 10.0, process: Optional[Any] = None) -> None:
        self.host, self.port, self._token, self.timeout = host, int(port), token, timeout
        self.process = process
        self._sock: Optional[socket.socket] = None
        self._send_lock = threading.Lock()
        self._job_id: Optional[str] = None
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
        self._send({"type": "hello", "protocol": PROTOCOL_VERSION, "token": self._token, "client": "SDSegLogic.server.client"})
        reply = self._recv()
        if reply.get("type") != "welcome":
            self.close()
            raise EngineError(reply.get("code", "protocol_error"), reply.get("message", f"unexpected reply {reply!r}"))
        self.welcome = reply
        return self

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def __enter__(self) -> "EngineClient":
        return self.connect()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _raise_dead(self, what: str) -> None:
        detail = ""
        if self.process is not None:
            code = self.process.wait(timeout=2.0)
            if code is not None:
                detail = f"; the engine process (pid {self.process.pid}) exited with code {code}"
                tail = self.process.log_tail()
                if tail:
                    detail += f". Last engine log lines:\n{tail}"
        self.close()
        raise EngineDiedError("engine_died", f"{what}{detail}. Start the engine again (Segment restarts it).")

    def _send(self, header: Dict[str, Any], arrays: Optional[Dict[str, np.ndarray]] = None) -> None:
        if self._sock is None:
            raise EngineError("not_connected", "the client is not connected; call connect() first.")
        try:
            with self._send_lock:
                send_frame(self._sock, header, arrays)
        except OSError as exc:
            reason = self._pending_error()  # the engine may have said why it closed the connection
            if reason is not None:
                self.close()
                raise EngineError(reason.get("code", "error"), reason.get("message", "")) from None
            self._raise_dead(f"lost the connection to the engine while sending ({exc})")

    def _pending_error(self) -> Optional[Dict[str, Any]]:
        try:
            if self._sock is not None and self._readable(0.5):
                header = recv_frame(self._sock, 1 << 20, 0).header
                return header if header.get("type") == "error" else None
        except (OSError, ProtocolError, ValueError):
            return None
        return None

    def _recv_frame(self, timeout: Optional[float]):
        if self._sock is None:
            raise EngineError("not_connected", "the client is not connected; call connect() first.")
        self._sock.settimeout(timeout)
        try:
            return recv_frame(self._sock, 1 << 24, _MAX_REPLY_BYTES)
        except socket.timeout:
            raise EngineError("timeout", f"the engine did not answer within {timeout} s.") from None
        except ProtocolError as exc:
            self.close()
            raise EngineError(exc.code, f"the engine sent an invalid frame: {exc.message}") from None
        except (ConnectionError, OSError) as exc:
            self._raise_dead(f"the engine closed the connection ({exc})")

    def _readable(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the next frame to start (never times out mid-frame)."""
        if self._sock is None:
            raise EngineError("not_connected", "the client is not connected; call connect() first.")
        readable, _, _ = select.select([self._sock], [], [], timeout)
        return bool(readable)

    def _recv(self, timeout: Optional[float] = -1.0) -> Dict[str, Any]:
        return self._recv_frame(self.timeout if timeout == -1.0 else timeout).header

    def _request(self, header: Dict[str, Any], expect: str) -> Dict[str, Any]:
        self.connect()
        self._send(header)
        reply = self._recv()
        if reply.get("type") == "error":
            raise EngineError(reply.get("code", "error"), reply.get("message", ""))
        if reply.get("type") != expect:
            raise EngineError("protocol_error", f"expected {expect!r}, got {reply.get('type')!r}.")
        return reply

    # ------------------------------------------------------------------ requests
    def ping(self) -> Dict[str, Any]:
        return self._request({"type": "ping"}, "pong")

    def info(self) -> Dict[str, Any]:
        """Model card, device, memory, versions and limits of the engine."""
        return self._request({"type": "info"}, "info")

    def shutdown(self) -> None:
        """Ask the engine to exit (it cancels a running job first)."""
        try:
            self._request({"type": "shutdown"}, "bye")
        finally:
            self.close()

    def cancel(self, job_id: Optional[str] = None) -> None:
        """Cancel the running job; safe to call from another thread while :meth:`segment` blocks.

        The blocked :meth:`segment` call then raises :class:`SDSegLogic.errors.CancelledError`.
        """
        job = job_id or self._job_id
        if self._sock is not None and job is not None:
            self._send({"type": "cancel", "job_id": job})

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
            on_progress: called with each ``progress`` event dict (done, total, eta_s, ...).
            should_cancel: polled every ``poll_s`` seconds; when it returns True a cancel is sent.

        Raises:
            CancelledError: the job was cancelled (nothing partial is returned).
            EngineError: the engine rejected or failed the job (``code`` says why; ``input_error``
                for a mismatch refused under ``strict``; ``engine_too_old`` when the engine does not
                know an option this client sends, such as ``strict`` or ``modality``).
            EngineDiedError: the engine process died or the connection broke.
        """
        self.connect()
        job_id = uuid.uuid4().hex[:12]
        options = {"num_inference_steps": int(num_inference_steps), "num_samples": int(num_samples), "seed": int(seed),
                   "slices": None if slices is None else [int(slices[0]), int(slices[1])], "batch_size": int(batch_size),
                   "want_probabilities": bool(want_probabilities), "want_variance": bool(want_variance)}
        if modality:
            options["modality"] = str(modality)
        if strict:
            options["strict"] = True
        self._require_options(options)
        array = np.asarray(image)
        if array.dtype == np.bool_:
            array = array.astype(np.uint8)
        limit = (self.welcome.get("limits") or {}).get("max_request_bytes")
        if limit is not None and array.nbytes > int(limit):
            raise EngineError("request_too_large", f"the volume takes {array.nbytes} bytes but this engine accepts at most {limit} "
                              "bytes per request; segment a slice range or restart the engine with a larger --max-request-bytes.")
        self._job_id = job_id
        try:
            self._send({"type": "segment", "job_id": job_id, "geometry": geometry_to_json(geometry), "options": options}, {"image": array})
            cancel_sent = False
            while True:
                if not self._readable(poll_s):
                    if self.process is not None and self.process.poll() is not None:
                        self._raise_dead("the engine process stopped during the job")
                    if should_cancel is not None and not cancel_sent and should_cancel():
                        self.cancel(job_id)
                        cancel_sent = True
                    continue
                frame = self._recv_frame(None)  # a whole frame; only the wait above has a timeout
                kind = frame.header.get("type")
                if kind == "progress" and on_progress is not None:
                    on_progress(frame.header)
                elif kind == "result":
                    arrays = frame.arrays
                    return SegmentOutput(
                        labels=np.array(arrays["labels"], dtype=np.uint8),
                        geometry=geometry_from_json(frame.header["geometry"]),
                        probabilities=None if "probabilities" not in arrays else np.array(arrays["probabilities"], dtype=np.float32),
                        variance=None if "variance" not in arrays else np.array(arrays["variance"], dtype=np.float32),
                        header={k: v for k, v in frame.header.items() if k != "arrays"},
                        warnings=tuple(str(w) for w in frame.header.get("warnings") or ()),
                    )
                elif kind == "cancelled":
                    raise CancelledError("segmentation cancelled; nothing was written.")
                elif kind == "error" and frame.header.get("job_id") in (None, job_id):
                    code, message = frame.header.get("code", "error"), frame.header.get("message", "")
                    if code == "input_error" and message.startswith("unknown segment options"):
                        raise EngineError("engine_too_old", f"{message} {self._too_old()}")
                    raise EngineError(code, message)
                if should_cancel is not None and not cancel_sent and should_cancel():
                    self.cancel(job_id)
                    cancel_sent = True
        finally:
            self._job_id = None


    def _too_old(self) -> str:
        from .. import __version__

        return (f"The engine (SDSeg {self.welcome.get('engine_version', '?')}) is older than this client (SDSeg "
                f"{__version__}); update SDSeg where the engine runs, or leave the newer options at their defaults.")

    def _require_options(self, options: Dict[str, Any]) -> None:
        """Refuse, before sending the volume, options that the engine's ``welcome`` says it does not know.

        Engines that predate the ``segment_options`` list are not checked here; their ``unknown
        segment options`` error is turned into ``engine_too_old`` when it comes back.
        """
        known = self.welcome.get("segment_options")
        missing = sorted(set(options) - set(known)) if isinstance(known, list) else []
        if missing:
            raise EngineError("engine_too_old", f"this engine does not know the segment options {missing}. {self._too_old()}")


# the process launcher lives in process.py (it needs EngineClient, defined above)
from .process import EngineProcess  # noqa: E402
