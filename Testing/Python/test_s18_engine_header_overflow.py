"""A ``cancel`` whose ``job_id`` is a number beyond float range gets its ``cancel_ack``, not ``internal_error``.

``1e400`` is valid JSON text that Python reads as ``inf``; the header check refuses only the
``NaN``/``Infinity`` constants. The engine echoed the ``job_id`` of a ``cancel`` as it came, so its
``cancel_ack`` could not be encoded (``allow_nan=False``): the engine logged a traceback ("cannot
encode a 'cancel_ack' frame") and answered ``internal_error``. It now echoes the id as it compares
it, a string. A real in-process engine and a raw authenticated socket.
"""

from __future__ import annotations

import logging
import socket

from engine_fixtures import raw_frame, read_reply, serving_engine
from SDSegLogic.server.protocol import PROTOCOL_VERSION

TOKEN = "s18-header-overflow-" + "h" * 32


def _frame_from_text(text: bytes) -> bytes:
    """A body-less frame whose JSON header is ``text`` exactly (``json.dumps`` cannot write ``1e400``)."""
    return b"SDSG" + len(text).to_bytes(4, "little") + bytes(8) + text


def test_a_cancel_with_a_job_id_beyond_float_range_is_acknowledged(caplog):
    caplog.set_level(logging.WARNING, logger="SDSegLogic.server")
    with serving_engine(None, TOKEN) as engine:
        sock = socket.create_connection(("127.0.0.1", engine.port), timeout=10)
        try:
            sock.sendall(raw_frame({"type": "hello", "protocol": PROTOCOL_VERSION, "token": TOKEN}))
            assert read_reply(sock)["type"] == "welcome"
            sock.sendall(_frame_from_text(b'{"type":"cancel","job_id":1e400}'))
            reply = read_reply(sock)
            assert reply["type"] == "cancel_ack" and reply["was_running"] is False, reply
            sock.sendall(_frame_from_text(b'{"type":"cancel","job_id":"a1b2"}'))
            assert read_reply(sock) == {"type": "cancel_ack", "job_id": "a1b2", "was_running": False}
            sock.sendall(raw_frame({"type": "ping"}))
            assert read_reply(sock)["type"] == "pong"  # the connection was kept
        finally:
            sock.close()
    assert "Traceback" not in caplog.text and "cannot encode" not in caplog.text, caplog.text
