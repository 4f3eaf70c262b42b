"""The engine client's own limits: a clear refusal of an unusable timeout, a readable silence duration."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from engine_fixtures import FakeEngine
from SDSegLogic.errors import SDSegError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient, EngineDiedError

TOKEN = "c" * 40


def _silent_during_jobs(index, header, sock):
    """Welcome the client, then read every body and answer nothing at all (pings included): a hung engine."""
    if header.get("type") == "hello":
        return None  # the fake's own welcome
    remaining = header["_body"]
    while remaining:
        remaining -= len(sock.recv(min(remaining, 1 << 16)))
    return "silent"


def test_a_sub_second_silence_is_not_reported_as_zero_seconds():
    """heartbeat_s=0.1 and timeout=0.2: the engine had been silent ~0.3 s, and the message said "sent nothing for 0 s"."""
    fake = FakeEngine(_silent_during_jobs)
    try:
        client = EngineClient("127.0.0.1", fake.port, TOKEN, timeout=0.2)
        client.heartbeat_s = 0.1
        image = np.zeros((2, 4, 4), np.int16)
        with pytest.raises(EngineDiedError) as caught:
            client.segment(image, _geometry(image), poll_s=0.02)
    finally:
        fake.close()
    message = str(caught.value)
    said = re.search(r"sent nothing for (\S+) s", message)
    assert said is not None, message
    assert float(said.group(1)) >= client.heartbeat_s, message  # at least the heartbeat went by in silence, never "0"


def _geometry(image: np.ndarray) -> ImageGeometry:
    k, j, i = image.shape
    return ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (i, j, k))


@pytest.mark.parametrize("timeout", [math.inf, 1e10, math.nan, 0.0, -1.0])
def test_an_unusable_timeout_is_refused_when_the_client_is_made(timeout):
    """timeout=inf or 1e10 got as far as the socket, which raised a bare OverflowError at connect()."""
    with pytest.raises(SDSegError) as caught:
        EngineClient("127.0.0.1", 9, TOKEN, timeout=timeout)
    message = str(caught.value)
    assert "timeout" in message and repr(timeout) in message and "1000000000" in message, message


def test_a_large_but_usable_timeout_is_kept():
    assert EngineClient("127.0.0.1", 9, TOKEN, timeout=1e9).timeout == 1e9
