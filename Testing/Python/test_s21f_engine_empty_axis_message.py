"""An image with no voxels along an axis is refused with a message that says so, not that it is not 3-D.

``segment`` with a ``(0, 32, 32)`` int16 image (a slice range cut to nothing by a client script) was
answered ``input_error`` "image shape (0, 32, 32) must be (K, J, I) for a scalar volume or (K, J, I,
3) for RGB": it is (K, J, I), so the message hid the real fault (an empty axis) and its remedy.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest

from engine_fixtures import raw_frame, read_reply, serving_engine, tiny_pipeline_fixture

TOKEN = "s21f-empty-axis-" + "e" * 32
pipeline = tiny_pipeline_fixture("tiny-s21f-empty")


@pytest.mark.parametrize("shape", [(0, 32, 32), (4, 0, 32), (4, 32, 0, 3)])
def test_an_empty_axis_is_named_in_the_refusal(pipeline, shape):
    image = np.zeros(shape, np.uint8 if len(shape) == 4 else np.int16)
    k, j, i = shape[:3]
    geometry = {"frame": "LPS", "spacing": [1, 1, 1], "origin": [0, 0, 0], "direction": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                "shape": [i, j, k]}
    header = {"type": "segment", "job_id": "empty", "geometry": geometry, "options": {},
              "arrays": [{"name": "image", "dtype": str(image.dtype), "shape": list(shape), "offset": 0, "nbytes": image.nbytes}]}
    with serving_engine(pipeline, TOKEN) as engine:
        with socket.create_connection((engine.host, engine.port), timeout=10) as sock:
            sock.sendall(raw_frame({"type": "hello", "protocol": 1, "token": TOKEN}))
            assert read_reply(sock)["type"] == "welcome"
            sock.sendall(raw_frame(header, image.tobytes()))
            reply = read_reply(sock, 30)
    assert reply["type"] == "error" and reply["code"] == "input_error" and reply["job_id"] == "empty", reply
    message = reply["message"]
    empty = "KJI"[list(shape[:3]).index(0)]
    assert f"no voxels along {empty}" in message and "at least one" in message, message
