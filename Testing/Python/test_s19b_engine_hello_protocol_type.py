"""A ``hello`` whose ``protocol`` is not a JSON integer is refused by name, not taken for version 1.

PROTOCOL.md ("Session", "Versioning"): ``protocol`` is the version number the client speaks, 1.
The engine compared it with ``!=``, and in Python ``True == 1`` and ``1.0 == 1``: a hello with
``"protocol": true`` or ``"protocol": 1.0`` was welcomed as a version-1 client. It is now refused
with ``error bad_request`` whose message names the value as sent and the remedy; an integer of
another version is still ``protocol_version``, and ``1`` is still welcomed.

A real in-process engine answers the hellos on raw sockets (the reference client always sends 1).
"""

from __future__ import annotations

import socket
import struct

import pytest

from engine_fixtures import read_reply, serving_on_port

TOKEN = "s19b-hello-protocol-" + "h" * 32


@pytest.fixture(scope="module")
def port():
    with serving_on_port(None, TOKEN) as (_, bound):  # the hello needs no model: the engine starts with none too
        yield bound


def _hello_reply(port: int, protocol_json: str) -> dict:
    """The engine's reply to a hello whose ``protocol`` is the JSON text ``protocol_json``."""
    data = f'{{"type": "hello", "protocol": {protocol_json}, "token": "{TOKEN}"}}'.encode()  # the JSON as written
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(struct.pack("<4sIQ", b"SDSG", len(data), 0) + data)
        return read_reply(sock, 10)


@pytest.mark.parametrize("protocol_json", ["true", "1.0", '"1"', "[1]", "null"])
def test_a_protocol_that_is_not_an_integer_is_refused_naming_it(port, protocol_json):
    reply = _hello_reply(port, protocol_json)
    assert reply["type"] == "error", f"a hello with \"protocol\": {protocol_json} was answered {reply}"
    assert reply["code"] == "bad_request", reply
    assert f"got {protocol_json}" in reply["message"] and "protocol" in reply["message"], reply["message"]


def test_an_integer_protocol_is_still_judged_by_its_version(port):
    assert _hello_reply(port, "1")["type"] == "welcome"
    reply = _hello_reply(port, "2")
    assert (reply["type"], reply["code"]) == ("error", "protocol_version"), reply
