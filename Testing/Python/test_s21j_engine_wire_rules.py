"""The engine process's option rule, its non-finite header numbers, its quoted values and the error-code suffix.

* Options: the engine had its own table and integer check (``SDSegLogic/server/jobs.py``): a
  ``segment`` with ``"num_samples": 2.0`` was refused (``must be an integer``) while the segment API
  and the Slicer module (:mod:`SDSegLogic.segment_options`) take 2.0 as 2; and its refusal worded
  each option its own way. Now the one rule and table: a whole float runs as its int, and a refusal
  says what the option is, in the same words as the other two sides.
* ``"job_id": 1e400`` (valid JSON, read as infinite) became the job id ``"Infinity"``, though
  PROTOCOL.md refuses ``Infinity``; now ``malformed_header``.
* A hello with a 4000-digit ``protocol`` was refused with a message quoting all of it; the client's
  "unexpected reply" quoted a whole reply (here 200 KB). Both now quote the first characters and say
  the type and size.
* A code with ``]`` (from an engine that breaks the protocol's code alphabet) was appended as
  ``[engine error: a]b]``, which :func:`~SDSegLogic.server.error_code.without_error_code` could not take off.

Real engine process serving the tiny random-weight model (engine_fixtures.py); a scripted
:class:`engine_fixtures.FakeEngine` for replies a real engine never sends.
"""

from __future__ import annotations

import json
import re
import socket
import struct

import numpy as np
import pytest

from engine_fixtures import FakeEngine, authenticated_socket, make_tiny_model, read_reply
from SDSegLogic.server.client import EngineClient, EngineError, EngineProcess
from SDSegLogic.server.protocol import geometry_to_json

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
SHAPE_KJI = (2, 32, 32)
ENDS = ("result", "cancelled", "error")  # a job's last frame


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder = make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-s21j")
    process = EngineProcess.start(folder, "cpu", extra_args=["--threads", "1"],
                                  log_path=tmp_path_factory.mktemp("log") / "engine.log")
    yield process
    process.stop()


def _segment_frame(options_json: str, job_id_json: str = '"s21j"', slices: int = SHAPE_KJI[0]) -> bytes:
    """A ``segment`` frame whose ``options`` and ``job_id`` are the JSON texts given, with a small int16 volume."""
    from SDSegLogic.geometry import ImageGeometry

    k, j, i = (slices, *SHAPE_KJI[1:])
    image = (np.arange(k * j * i, dtype=np.int16).reshape(k, j, i) % 200) - 100
    geometry = json.dumps(geometry_to_json(ImageGeometry.identity((i, j, k))))
    arrays = [{"name": "image", "dtype": "int16", "shape": [k, j, i], "offset": 0, "nbytes": image.nbytes}]
    text = (f'{{"type": "segment", "job_id": {job_id_json}, "geometry": {geometry}, "options": {options_json}, '
            f'"arrays": {json.dumps(arrays)}}}').encode()
    return struct.pack("<4sIQ", b"SDSG", len(text), image.nbytes) + text + image.tobytes()


def _last_frame(sock: socket.socket) -> dict:
    """The first frame after ``accepted``/``progress``: the job's result, or the request's refusal."""
    while True:
        reply = read_reply(sock, 120)
        if reply["type"] not in ("accepted", "progress"):
            return reply


def _engine_answer(engine, frame: bytes) -> dict:
    with authenticated_socket(engine) as sock:
        sock.sendall(frame)
        return _last_frame(sock)


def test_s21j_whole_float_options_run_as_their_ints(engine):
    reply = _engine_answer(engine, _segment_frame('{"num_samples": 2.0, "num_inference_steps": 1.0, "batch_size": 2.0, '
                                                  '"seed": 3.0, "slices": [0.0, 1.0], "want_variance": true}'))
    assert reply["type"] == "result", reply  # before: error input_error "option num_inference_steps=1.0 must be an integer."
    options = reply["options"]
    assert (options["num_samples"], options["seed"], options["batch_size"]) == (2, 3, 2), options
    assert list(options["slices"]) == [0, 1], options
    assert "variance" in [entry["name"] for entry in reply["arrays"]], reply["arrays"]  # two samples really ran


@pytest.mark.parametrize("option, value", [("num_samples", "0"), ("num_samples", "2.5"), ("num_inference_steps", "1001"),
                                           ("batch_size", "true"), ("seed", "-1")])
def test_s21j_option_refusal_uses_the_shared_words(engine, option, value):
    from SDSegLogic.segment_options import OPTION_LIMITS

    reply = _engine_answer(engine, _segment_frame(f'{{"{option}": {value}}}'))
    assert (reply["type"], reply["code"]) == ("error", "input_error"), reply
    low, high, meaning = OPTION_LIMITS[option]
    assert f"({meaning})" in reply["message"] and f"{low} to {high}" in reply["message"], reply["message"]
    assert f"{option}={value if value != 'true' else 'True'}" in reply["message"], reply["message"]


@pytest.mark.parametrize("job_id_json", ["1e400", "-1e400", "[1, 1e999]"])
def test_s21j_a_job_id_beyond_float_range_is_refused_not_infinity(engine, job_id_json):
    reply = _engine_answer(engine, _segment_frame("{}", job_id_json=job_id_json))
    assert reply.get("job_id") is None, reply  # before: accepted and ran as job "Infinity" (or "[1,Infinity]")
    assert (reply["type"], reply["code"]) == ("error", "bad_request"), reply
    assert "job_id" in reply["message"] and "float range" in reply["message"], reply["message"]
    assert _engine_answer(engine, _segment_frame("{}", job_id_json="1e300"))["job_id"] == "1e+300"  # a finite one runs


def test_s21j_a_cancel_beyond_float_range_does_not_stop_a_job_named_infinity(engine):
    """A string id ``"Infinity"`` is a job id; a ``cancel`` with ``1e400`` (no JSON spelling) names no job."""
    with authenticated_socket(engine) as sock:
        sock.sendall(_segment_frame('{"num_inference_steps": 20, "batch_size": 1}', job_id_json='"Infinity"', slices=24))
        first = read_reply(sock, 120)
        while first["type"] != "progress":  # the job runs: at least one more batch is left after this frame
            assert first["type"] == "accepted", first
            first = read_reply(sock, 120)
        text = b'{"type": "cancel", "job_id": 1e400}'
        sock.sendall(struct.pack("<4sIQ", b"SDSG", len(text), 0) + text)
        seen = []  # the ack and the job's last frame, in either order
        while not {"cancel_ack", "last"} <= {"last" if f["type"] in ENDS else f["type"] for f in seen}:
            seen.append(read_reply(sock, 120))
    ack = next(f for f in seen if f["type"] == "cancel_ack")
    last = next(f for f in seen if f["type"] in ENDS)
    assert (ack["was_running"], last["type"]) == (False, "result"), seen  # before: True, and the job was cancelled


def test_s21j_protocol_version_refusal_quotes_a_huge_version_briefly(engine):
    version = "9" * 4000
    data = f'{{"type": "hello", "protocol": {version}, "token": {json.dumps(engine.token)}}}'.encode()
    with socket.create_connection((engine.host, engine.port), timeout=10) as sock:
        sock.sendall(struct.pack("<4sIQ", b"SDSG", len(data), 0) + data)
        reply = read_reply(sock, 10)
    assert (reply["type"], reply["code"]) == ("error", "protocol_version"), reply
    assert len(reply["message"]) < 300, len(reply["message"])  # before: 4000 digits quoted in full
    assert "9999" in reply["message"] and "int" in reply["message"] and "4000" in reply["message"], reply["message"]


def test_s21j_unexpected_hello_reply_is_quoted_briefly():
    fake = FakeEngine(lambda index, header, sock: {"type": "pong", "busy": False, "padding": "x" * 200_000})
    try:
        with pytest.raises(EngineError) as caught:
            EngineClient("127.0.0.1", fake.port, "s21j-token", timeout=10).connect()
    finally:
        fake.close()
    assert caught.value.code == "protocol_error", repr(caught.value)
    assert len(str(caught.value)) < 1000, len(str(caught.value))  # before: the whole 200 KB reply
    assert "pong" in str(caught.value) and "dict" in str(caught.value), str(caught.value)


@pytest.mark.parametrize("code", ["bad]code", "two\nlines", "z" * 5000])
def test_s21j_any_code_the_client_writes_is_taken_off_again(code):
    from SDSegLogic.server.error_code import without_error_code

    message = "the engine refused the request"
    fake = FakeEngine(lambda index, header, sock: {"type": "error", "code": code, "message": message})
    try:
        with pytest.raises(EngineError) as caught:
            EngineClient("127.0.0.1", fake.port, "s21j-token", timeout=10).connect()
    finally:
        fake.close()
    assert caught.value.code == code  # the machine-readable code as the engine sent it
    assert without_error_code(str(caught.value)) == message, str(caught.value)[:200]
    assert re.fullmatch(r".* \[engine error: [A-Za-z0-9_?]+\]", str(caught.value)), str(caught.value)[:200]


def test_s21j_protocol_codes_are_written_as_they_are():
    from SDSegLogic.server.error_code import with_error_code, without_error_code

    for code in ("input_error", "busy", "engine_shutdown", "upload_too_slow", "protocol_error"):
        text = with_error_code("no", code)
        assert text == f"no [engine error: {code}]" and without_error_code(text) == "no"


def test_s21j_reply_with_a_huge_type_is_quoted_briefly():
    fake = FakeEngine(lambda index, header, sock: None if header["type"] == "hello" else {"type": "t" * 100_000})
    try:
        client = EngineClient("127.0.0.1", fake.port, "s21j-token", timeout=10)
        with pytest.raises(EngineError) as caught:
            client.ping()
        client.close()
    finally:
        fake.close()
    assert caught.value.code == "protocol_error" and len(str(caught.value)) < 1000, len(str(caught.value))


def test_s21j_a_long_job_id_does_not_flood_the_engine_log(engine):
    """A 300 000-character ``job_id`` (the header allows 1 MiB) was logged whole in each of the job's log lines."""
    long_id = "j" * 300_000
    before = engine.log_path.stat().st_size
    reply = _engine_answer(engine, _segment_frame("{}", job_id_json=json.dumps(long_id)))
    assert reply["type"] == "result" and reply["job_id"] == long_id  # replies still carry the id as sent
    grown = engine.log_path.stat().st_size - before
    assert 0 < grown < 20_000, grown  # before: over 600 000 bytes (the id in the "job ..." and "done" lines)
    assert "jjjj" in engine.log_tail(5) and "300000 characters" in engine.log_tail(5), engine.log_tail(5)[-300:]


def test_s21j_an_unknown_request_type_is_quoted_briefly(engine):
    with authenticated_socket(engine) as sock:
        sock.sendall(_typed_frame("q" * 500_000))
        reply = read_reply(sock, 30)
    assert (reply["type"], reply["code"]) == ("error", "unknown_request"), reply["type"]
    assert len(reply["message"]) < 300, len(reply["message"])  # before: the whole 500 000-character type
    assert "qqqq" in reply["message"] and "500002 characters" in reply["message"], reply["message"]


def _typed_frame(kind: str) -> bytes:
    data = json.dumps({"type": kind}).encode()
    return struct.pack("<4sIQ", b"SDSG", len(data), 0) + data


def test_s21j_a_first_frame_that_is_no_hello_is_quoted_briefly(engine):
    with socket.create_connection((engine.host, engine.port), timeout=10) as sock:
        sock.sendall(_typed_frame("h" * 4000))  # within the hello's 4 KiB header limit
        reply = read_reply(sock, 10)
    assert (reply["type"], reply["code"]) == ("error", "unauthenticated"), reply["type"]
    assert len(reply["message"]) < 300 and "4002 characters" in reply["message"], reply["message"][-200:]
