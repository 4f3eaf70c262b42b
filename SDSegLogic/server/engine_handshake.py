"""The engine's side of a connection's first exchange: the ``hello`` it must receive and the ``welcome`` it answers.

:func:`authenticate` reads the hello under one deadline (a peer trickling bytes cannot hold the
connection open), checks the token in constant time and the protocol version, and answers a
failure with its ``error`` frame (``auth_timeout``, ``unauthenticated``, ``bad_token``,
``bad_request`` for a ``protocol`` that is not a JSON integer, ``protocol_version`` or a frame
error); :func:`welcome_frame` is what an authenticated client is told.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
from typing import Any, Dict

from .connection import Connection, DeadlineReader
from .engine_options import EngineOptions
from .jobs import DEFAULT_OPTIONS
from .protocol import PROTOCOL_VERSION, ProtocolError, recv_frame
from .wire_values import short_repr

__all__ = ["HELLO_MAX_HEADER_BYTES", "authenticate", "welcome_frame"]

log = logging.getLogger("SDSegLogic.server")
HELLO_MAX_HEADER_BYTES = 4096  #: the hello's header limit; it may carry no body


def authenticate(connection: Connection, options: EngineOptions) -> bool:
    """Read and check ``connection``'s hello; False (its ``error`` frame already sent) when it fails.

    Args:
        connection: a freshly accepted connection.
        options: the engine's token and ``auth_timeout_s``.
    """
    try:
        try:  # one deadline for the whole hello: a peer trickling bytes cannot hold the connection open
            frame = recv_frame(DeadlineReader(connection.sock, options.auth_timeout_s), HELLO_MAX_HEADER_BYTES, 0)  # type: ignore[arg-type]
        finally:
            connection.sock.settimeout(options.auth_timeout_s)  # for the reply, not what was left of the deadline
    except ProtocolError as exc:
        message = exc.message
        if exc.code == "request_too_large":  # the limit is 0, not --max-request-bytes: no engine option lets a hello have a body
            message = ("a 'hello' frame carries no body, but its prefix declared one; send the hello (protocol, token) "
                       "as the JSON header alone, with a body length of 0.")
        connection.send({"type": "error", "code": exc.code, "message": message})
        return False
    except socket.timeout:
        connection.send({"type": "error", "code": "auth_timeout", "message": "no hello within the authentication timeout."})
        return False
    if frame.type != "hello":
        connection.send({"type": "error", "code": "unauthenticated", "message": f"the first message must be 'hello' with the token, got {short_repr(frame.type, 40)}."})
        return False
    token = frame.header.get("token")
    # surrogatepass: a JSON "\ud800" is a str that strict UTF-8 cannot encode; it is just a wrong token
    good = isinstance(token, str) and hmac.compare_digest(token.encode("utf-8", "surrogatepass"), options.token.encode("utf-8"))
    if not good:
        log.warning("rejected a connection from %s: bad token", connection.peer)
        connection.send({"type": "error", "code": "bad_token", "message": "the engine token is wrong; read it again from the engine's token file."})
        return False
    version = frame.header.get("protocol")
    if isinstance(version, bool) or not isinstance(version, int):  # true == 1 and 1.0 == 1 in Python: not versions
        shown = json.dumps(version)  # as the client wrote it: true, 1.0, "1", null (missing)
        shown = shown if len(shown) <= 40 else shown[:40] + "..."
        connection.send({"type": "error", "code": "bad_request",
                         "message": f"hello 'protocol' must be a JSON integer, the protocol version the client speaks "
                                    f"({PROTOCOL_VERSION} for this engine), got {shown}; "
                                    "send it as a number without a fraction, e.g. \"protocol\": 1."})
        return False
    if version != PROTOCOL_VERSION:
        connection.send({"type": "error", "code": "protocol_version",
                         "message": f"client speaks protocol {short_repr(version, 40)}, this engine speaks {PROTOCOL_VERSION}; update the older side."})
        return False
    return True


def welcome_frame(predictor: Any, options: EngineOptions) -> Dict[str, Any]:
    """The answer to an authenticated hello: versions, model, device, limits and the segment options."""
    from .. import __version__

    card = getattr(predictor, "model_card", None)
    return {"type": "welcome", "protocol": PROTOCOL_VERSION, "engine_version": __version__,
            "model_id": getattr(card, "model_id", ""), "device": str(getattr(predictor, "device", "")),
            "limits": {"max_request_bytes": options.max_request_bytes, "max_header_bytes": options.max_header_bytes,
                       "max_inflight_request_bytes": options.max_inflight_request_bytes,
                       "upload_min_bytes_per_s": options.upload_min_bytes_per_s, "upload_floor_s": options.upload_floor_s},
            "segment_options": sorted(DEFAULT_OPTIONS)}
