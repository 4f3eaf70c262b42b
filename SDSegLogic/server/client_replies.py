"""What the engine's last word means to the client: the frame that ends a ``segment`` job, or an error before a break.

A running job's stream holds ``progress`` frames, answers to liveness pings, and one last frame:
``result`` (the call returns a :class:`~SDSegLogic.server.client_types.SegmentOutput`),
``cancelled`` or ``error``. :func:`ends_job` tells that last frame apart and :func:`job_outcome`
turns it into the return value or the exception. :func:`pending_error` reads the ``error`` an
engine sent before it closed a connection on which a send then failed. :mod:`SDSegLogic.server.client`
reads the frames and closes its connection where the outcome asks for it.
"""

from __future__ import annotations

import socket
from typing import Any, Dict, Optional, Sequence, Tuple

from ..errors import CancelledError
from .client_job import engine_too_old
from .client_result import check_result_frame
from .client_types import (CancelledByOtherClientError, EngineError, EngineShutdownError, SegmentOutput, error_from_header,
                           output_from_frame)
from .protocol import Frame, ProtocolError, recv_frame, wait_readable

__all__ = ["ends_job", "job_outcome", "pending_error"]


def ends_job(header: Dict[str, Any], job_id: str) -> bool:
    """Whether a frame with ``header`` is the last one of job ``job_id``.

    ``result`` and ``cancelled`` end it when they name it; an ``error`` also when it names no job
    (the engine refused the request before it knew the job id, e.g. a malformed request or ``busy``).
    """
    kind, named = header.get("type"), header.get("job_id")
    if kind in ("result", "cancelled"):
        return named == job_id
    return kind == "error" and named in (None, job_id)


def job_outcome(frame: Frame, welcome: Dict[str, Any], request: Optional[Tuple[Sequence[int], Any, Dict[str, Any]]] = None
                ) -> SegmentOutput:
    """The return value of a ``segment`` call whose last frame is ``frame`` (one :func:`ends_job` accepts).

    Args:
        frame: the job's last frame (``result``, ``cancelled`` or ``error``).
        welcome: the engine's ``welcome`` header (its version names the remedy for an engine too old).
        request: ``(shape, geometry, options)`` of the request, (K, J, I) of the image sent, its grid and its
            ``options``: a ``result`` must fit them (:func:`~SDSegLogic.server.client_result.check_result_frame`).

    Returns:
        The result of a ``result`` frame.

    Raises:
        CancelledByOtherClientError: ``cancelled`` by a ``cancel`` from another connection.
        CancelledError: ``cancelled`` by this client.
        EngineShutdownError: ``error`` ``engine_shutdown`` (the caller closes its connection).
        EngineError: any other ``error`` (``engine_too_old`` for options the engine does not know;
            :class:`~SDSegLogic.server.client_types.EngineBusyError` for ``busy``), or a
            ``protocol_error`` for a result without labels or geometry, or one that does not fit ``request``.
    """
    header = frame.header
    kind = header.get("type")
    if kind == "result":
        if request is not None:
            check_result_frame(frame, *request)
        return output_from_frame(frame)
    if kind == "cancelled":
        if header.get("by") == "another_client":
            raise CancelledByOtherClientError("segmentation cancelled by another client of the engine (not by "
                                              "this program); nothing was written. Run it again.")
        raise CancelledError("segmentation cancelled; nothing was written.")
    code, message = header.get("code", "error"), str(header.get("message", ""))
    if code == "input_error" and message.startswith("unknown segment options"):
        raise EngineError("engine_too_old", f"{message} {engine_too_old(welcome)}")
    if code == "engine_shutdown":
        raise EngineShutdownError(code, message, str(header.get("reason", "")))
    raise error_from_header(header)  # EngineBusyError for busy: wait, then send again


def pending_error(sock: socket.socket, wait_s: float = 0.5) -> Optional[Dict[str, Any]]:
    """The ``error`` header the engine sent on ``sock`` before the connection broke (``busy``, ``bad_token``...), or None.

    Args:
        sock: the socket a send just failed on; the client's own attribute is never read here, so
            a ``close()`` from another thread meanwhile only ends the look (None: the failure stays
            a lost connection, not ``not_connected``).
        wait_s: how long to wait for the first byte of such a frame.
    """
    try:
        if wait_readable(sock, wait_s):
            header = recv_frame(sock, 1 << 20, 0).header
            return header if header.get("type") == "error" else None
    except (OSError, ProtocolError, ValueError):  # ConnectionError included: closed by the engine or by another thread
        return None
    return None
