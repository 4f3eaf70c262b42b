"""The reference client refuses numbers beyond float range in the engine's replies as protocol errors, naming the field.

``1e400`` is valid JSON that Python reads as ``inf``, and ``10**400`` a valid JSON integer too
large for a float. In a ``welcome``'s ``limits.max_request_bytes``, ``1e400`` made
:meth:`EngineClient.segment` raise a bare ``OverflowError`` ("cannot convert float infinity to
integer") and a string a bare ``ValueError``, not the :class:`EngineError` a caller handles; in a
``busy`` error's ``retry_after_s``, ``10**400`` raised ``OverflowError`` in place of
:class:`EngineBusyError` and ``1e400`` gave ``retry_after_s == inf``, a wait that never ends. The
engine side is a scripted :class:`engine_fixtures.FakeEngine` that writes these headers as raw
JSON text (``json.dumps`` cannot write ``1e400``), since a real engine never sends them.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from engine_fixtures import FakeEngine
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineBusyError, EngineClient, EngineError

TOKEN = "s18b-client-numbers-" + "n" * 32


def _raw_frame(text: str) -> bytes:
    """A body-less frame whose JSON header is ``text`` exactly."""
    data = text.encode("utf-8")
    return struct.pack("<4sIQ", b"SDSG", len(data), 0) + data


def _segment_through(answer) -> BaseException:
    """What :meth:`EngineClient.segment` of a small volume raises against a fake engine that answers with ``answer``."""
    fake = FakeEngine(answer)
    try:
        with EngineClient("127.0.0.1", fake.port, TOKEN, timeout=10) as client:
            with pytest.raises(Exception) as caught:
                client.segment(np.zeros((2, 8, 8), np.int16), ImageGeometry.identity((8, 8, 2)))
        return caught.value
    finally:
        fake.close()


@pytest.mark.parametrize("limits", ['{"max_request_bytes": 1e400}', '{"max_request_bytes": -1e400}',
                                    '{"max_request_bytes": "lots"}', '{"max_request_bytes": 2.5}', "1e400", "[1]"])
def test_a_welcome_limit_that_is_no_byte_count_is_a_protocol_error(limits):
    def answer(index, header, sock):
        if header["type"] == "hello":
            sock.sendall(_raw_frame('{"type": "welcome", "protocol": 1, "engine_version": "fake", "segment_options": null, '
                                    f'"limits": {limits}}}'))
            return "silent"
        return {"type": "error", "code": "engine_error", "message": "not reached", "job_id": header.get("job_id")}

    error = _segment_through(answer)
    assert isinstance(error, EngineError) and error.code == "protocol_error", repr(error)
    assert "max_request_bytes" in str(error), str(error)


def test_a_whole_float_limit_is_still_a_limit():
    """An integral float (1000000.0 from an engine embedded with a float option) keeps working as a byte count."""
    def answer(index, header, sock):
        if header["type"] == "hello":
            sock.sendall(_raw_frame('{"type": "welcome", "protocol": 1, "engine_version": "fake", "segment_options": null, '
                                    '"limits": {"max_request_bytes": 100.0}}'))
            return "silent"
        return {"type": "error", "code": "engine_error", "message": "not reached", "job_id": header.get("job_id")}

    error = _segment_through(answer)
    assert isinstance(error, EngineError) and error.code == "request_too_large", repr(error)


@pytest.mark.parametrize("retry", [str(10**400), "1e400"], ids=["integer 10**400", "1e400"])
def test_a_retry_hint_beyond_float_range_is_no_hint(retry):
    def answer(index, header, sock):
        if header["type"] == "segment":
            while header["_body"]:  # read the volume off the socket before answering
                header["_body"] -= len(sock.recv(header["_body"]))
            sock.sendall(_raw_frame('{"type": "error", "code": "busy", "reason": "job_running", "message": "busy", '
                                    f'"retry_after_s": {retry}, "job_id": "{header["job_id"]}"}}'))
            return "silent"
        return None

    error = _segment_through(answer)
    assert isinstance(error, EngineBusyError), repr(error)
    assert error.retry_after_s is None, error.retry_after_s
