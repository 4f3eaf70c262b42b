"""The ``nan_policy`` segment option end to end: client -> engine process -> volume pipeline.

A real engine (``python -m SDSegLogic.server``) serves the tiny random-weight CT model of
engine_fixtures.py. A volume with NaN/infinite voxels is refused by default with ``input_error``
naming the count, the first voxel and every switch that fills them (CLI, Python, engine client,
Slicer); ``nan_policy="fill"`` segments it with a warning; any other value is refused. The client
sends the option only when it is ``"fill"``, so an engine older than it still accepts default jobs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine_fixtures import authenticated_socket, make_tiny_model, raw_frame, read_reply
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.preprocessing import NAN_FILL_SWITCHES
from SDSegLogic.server.client import EngineError, EngineProcess
from SDSegLogic.server.protocol import geometry_to_json


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    model = make_tiny_model(Path(tmp_path_factory.mktemp("models")) / "tiny-nan")
    process = EngineProcess.start(model, "cpu", extra_args=["--threads", "1"])
    yield process
    process.stop()


def _volume_with_gaps():
    image = np.random.default_rng(3).normal(40, 150, (2, 16, 16)).astype(np.float32)
    image[1, 4, 5], image[1, 9, 2], image[0, 0, 0] = np.nan, np.inf, -np.inf
    geometry = ImageGeometry((0.8, 0.8, 2.5), (-12.5, 30.25, 101.0), np.eye(3), (16, 16, 2))
    return image, geometry


def test_nan_voxels_are_refused_by_default_and_filled_on_request(engine):
    image, geometry = _volume_with_gaps()
    before = image.copy()
    with engine.client() as client:
        with pytest.raises(EngineError) as caught:
            client.segment(image, geometry)
        filled = client.segment(image, geometry, nan_policy="fill")
    refusal = caught.value
    assert refusal.code == "input_error"
    assert "3 voxel value(s) are NaN or infinite (first at index (k, j, i) = (0, 0, 0))" in refusal.message
    assert NAN_FILL_SWITCHES in refusal.message and "Slicer" in refusal.message
    assert filled.labels.shape == (2, 16, 16) and filled.header["options"]["nan_policy"] == "fill"
    assert any("replaced 3 NaN/infinite voxel value(s)" in w for w in filled.warnings), filled.warnings
    np.testing.assert_array_equal(image, before)  # the caller's array is never modified


@pytest.mark.parametrize("value", ["zero", "", None, True])
def test_an_unknown_nan_policy_is_refused_and_the_connection_stays_usable(engine, value):
    image, geometry = _volume_with_gaps()
    header = {"type": "segment", "geometry": geometry_to_json(geometry), "options": {"nan_policy": value},
              "arrays": [{"name": "image", "dtype": "float32", "shape": list(image.shape), "offset": 0,
                          "nbytes": image.nbytes}]}
    with authenticated_socket(engine) as sock:
        sock.sendall(raw_frame(header, image.tobytes()))
        reply = read_reply(sock)
        assert reply["type"] == "error" and reply["code"] == "input_error", reply
        assert f"option nan_policy={value!r} must be \"reject\" or \"fill\"" in reply["message"], reply
        sock.sendall(raw_frame({"type": "ping"}))
        assert read_reply(sock)["type"] == "pong"


def test_the_client_sends_nan_policy_only_when_fill(engine, monkeypatch):
    """A default job carries no ``nan_policy`` key, so an engine that predates the option accepts it."""
    from SDSegLogic.server import client as client_module

    sent = []
    real_send = client_module.EngineClient._send

    def recording_send(self, header, arrays=None):
        if header.get("type") == "segment":
            sent.append(dict(header["options"]))
        return real_send(self, header, arrays)

    monkeypatch.setattr(client_module.EngineClient, "_send", recording_send)
    image, geometry = _volume_with_gaps()
    clean = np.nan_to_num(image, posinf=0.0, neginf=0.0)
    with engine.client() as client:
        client.segment(clean, geometry)
        client.segment(clean, geometry, nan_policy="reject")
        client.segment(image, geometry, nan_policy="fill")
    assert ["nan_policy" in options for options in sent] == [False, False, True]
