"""What the engine's shutdown tells the clients whose requests were still arriving, before it closes their connections.

A connection's request is received by its connection thread, frame by frame; a ``segment`` body
of hundreds of MB takes a while. When the engine shut down meanwhile, it closed the connection in
the middle of the body: the client's send failed with no frame to read, so it reported a lost
engine (:class:`~SDSegLogic.server.client_types.EngineDiedError`) where a client whose job was
running heard ``engine_shutdown`` (PROTOCOL.md, "Shutdown during a job"). :func:`answer_arriving`
sends such a request its ``engine_shutdown`` error first (the request's ``job_id``; the job was not
started), which the client reads once its send fails. A connection whose request is answered this
way sends nothing more for it (:meth:`Connection.end_request <SDSegLogic.server.connection.Connection.end_request>`).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, Iterable, List

from .connection import Connection
from .job_state import ENGINE_SHUTDOWN, SHUTDOWN_REASONS, check_shutdown_reason, not_started_error
from .wire_values import request_job_id

__all__ = ["ANSWER_WAIT_S", "answer_arriving", "arriving_error", "send_within"]

ANSWER_WAIT_S = 1.0
"""How long the shutdown waits, for all the connections together, for these small frames to go out."""


def arriving_error(header: Dict[str, Any], reason: str) -> Dict[str, Any]:
    """The ``engine_shutdown`` answer to a request whose ``header`` (``{}``: not read yet) was arriving at the shutdown.

    A ``segment`` (or a request not read far enough to tell) is answered as one that arrived during
    the shutdown: its own ``job_id`` (``null`` when it named none), "the job was not started".
    """
    if header.get("type") in (None, "segment"):
        return not_started_error(request_job_id(header), reason)
    why = SHUTDOWN_REASONS[check_shutdown_reason(reason)]
    return {"type": "error", "job_id": None, "code": ENGINE_SHUTDOWN, "reason": reason,
            "message": f"the engine was shutting down ({why}) when this request arrived; it was not answered. "
                       "Start the engine again, then send it again."}


def _start_sending(connection: Connection, header: Dict[str, Any], name: str) -> threading.Thread:
    """Send ``header`` on ``connection`` from a daemon thread of its own (started; not waited for)."""
    sender = threading.Thread(target=connection.send, args=(header,), daemon=True, name=name)
    sender.start()
    return sender


def send_within(connection: Connection, header: Dict[str, Any], wait_s: float, name: str) -> threading.Thread:
    """Send ``header`` on ``connection`` from a thread of its own and wait for it at most ``wait_s`` s.

    A client that stopped reading cannot hold the shutdown: the connection's close wakes the send.
    """
    sender = _start_sending(connection, header, name)
    sender.join(timeout=wait_s)
    return sender


def answer_arriving(connections: Iterable[Connection], reason: str, wait_s: float = ANSWER_WAIT_S) -> int:
    """Answer every request still arriving on ``connections`` with ``engine_shutdown``; returns how many.

    Args:
        connections: the engine's authenticated connections, about to be closed.
        reason: why the engine shuts down (a key of :data:`~SDSegLogic.server.job_state.SHUTDOWN_REASONS`).
        wait_s: the time allowed for all the frames together.
    """
    senders: List[threading.Thread] = []
    for connection in connections:
        header = connection.claim_arriving()
        if header is not None:
            senders.append(_start_sending(connection, arriving_error(header, reason), "sdseg-stop-arriving"))
    deadline = time.monotonic() + wait_s
    for sender in senders:
        sender.join(timeout=max(0.0, deadline - time.monotonic()))
    return len(senders)
