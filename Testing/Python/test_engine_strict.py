"""The ``strict`` segment option end to end: client -> engine process -> volume pipeline -> error frame.

A real engine (``python -m SDSegLogic.server``) serves the tiny random-weight CT model of
engine_fixtures.py (``modality`` CT, one input channel). With ``strict`` a colour picture or an
image whose modality is ``photo`` is refused with the normal ``input_error`` frame, whose message
names the mismatch and the remedy (a colour photo for a CT model: the modality first, then the
channels); without it the same request is segmented with a warning. The
client sends the option only when it is true (an older engine still accepts default jobs), and a
non-boolean value is refused like ``want_probabilities``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from engine_fixtures import authenticated_socket, make_tiny_model, raw_frame, read_reply
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient, EngineError, EngineProcess
from SDSegLogic.server.protocol import geometry_to_json

CHANNELS = "colour image given to a 1-channel (grayscale) model"
MODALITY = "trained on CT images but the input is a 2-D picture"
COLOUR_PHOTO = "the model was trained on CT images but the input is a 2-D picture (a colour photo, 3 channels)"


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-strict")


@pytest.fixture(scope="module")
def engine(model_folder):
    process = EngineProcess.start(model_folder, "cpu", extra_args=["--threads", "1"])
    yield process
    process.stop()


def _geometry(shape_kji) -> ImageGeometry:
    k, j, i = shape_kji
    return ImageGeometry((0.8, 0.8, 2.5), (-12.5, 30.25, 101.0), np.eye(3), (i, j, k))


def _photo(seed: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (1, 16, 16, 3)).astype(np.uint8)  # a colour picture


def _grey(k: int = 1) -> np.ndarray:
    return np.random.default_rng(5).normal(40, 150, (k, 16, 16)).astype(np.int16)


def test_strict_refuses_a_mismatch_with_an_input_error_and_default_only_warns(engine):
    photo, grey = _photo(), _grey()
    with engine.client() as client:
        refused = {}
        for name, image, modality in (("colour", photo, ""), ("photo", grey, "photo"), ("both", photo, "photo")):
            with pytest.raises(EngineError) as caught:
                client.segment(image, _geometry(image.shape[:3]), modality=modality, strict=True)
            refused[name] = caught.value
        warned = {name: client.segment(image, _geometry(image.shape[:3]), modality=modality)
                  for name, image, modality in (("colour", photo, ""), ("photo", grey, "photo"))}
        ct = client.segment(_grey(2), _geometry((2, 16, 16)), modality="CT", strict=True)  # a match: segmented
    assert all(error.code == "input_error" for error in refused.values()), refused
    colour, modality = refused["colour"].message, refused["photo"].message
    assert CHANNELS in colour and "refused because strict" in colour and "use a model trained on colour images" in colour
    assert MODALITY in modality and "refused because strict" in modality and "Give a CT image" in modality
    both = refused["both"].message  # what the 3D Slicer panel sends for an RGB volume: modality "photo"
    assert both.startswith(f"image: {COLOUR_PHOTO}"), both  # the modality mismatch leads
    assert both.index(COLOUR_PHOTO) < both.index(CHANNELS) < both.index("refused because strict")  # channels kept
    assert "Give a CT image, use a model trained on colour images" in both and "turn strict checking off" in both
    assert "Traceback" not in colour + modality
    assert any(CHANNELS in w for w in warned["colour"].warnings), warned["colour"].warnings
    assert any(MODALITY in w for w in warned["photo"].warnings), warned["photo"].warnings
    assert warned["photo"].labels.shape == (1, 16, 16) and warned["photo"].header["options"]["strict"] is False
    assert ct.header["options"]["strict"] is True and not any("trained on" in w for w in ct.warnings)


@pytest.mark.parametrize("value", [1, "true", None, [True]])
def test_a_strict_option_that_is_not_a_boolean_is_refused(engine, value):
    image = _grey()
    header = {"type": "segment", "geometry": geometry_to_json(_geometry(image.shape)), "options": {"strict": value},
              "arrays": [{"name": "image", "dtype": "int16", "shape": list(image.shape), "offset": 0, "nbytes": image.nbytes}]}
    with authenticated_socket(engine) as sock:
        sock.sendall(raw_frame(header, image.tobytes()))
        reply = read_reply(sock)
        assert reply["type"] == "error" and reply["code"] == "input_error", reply
        assert f"option strict={value!r} must be true or false" in reply["message"], reply
        sock.sendall(raw_frame({"type": "ping"}))  # the connection is still usable
        assert read_reply(sock)["type"] == "pong"


def test_the_client_sends_strict_only_when_true(model_folder, monkeypatch):
    """A default job carries no ``strict`` key, so an engine that predates the option accepts it."""
    from SDSegLogic.pipeline import SDSegPipeline
    from SDSegLogic.server import engine as engine_module
    from SDSegLogic.server.engine import EngineOptions, EngineServer

    sent_options = []
    real_receive = engine_module.receive_request

    def recording_receive(*args, **kwargs):
        frame, held = real_receive(*args, **kwargs)
        if frame.type == "segment":
            sent_options.append(dict(frame.header.get("options") or {}))
        return frame, held

    monkeypatch.setattr(engine_module, "receive_request", recording_receive)
    server = EngineServer(SDSegPipeline.from_pretrained(model_folder, device="cpu"), EngineOptions(token="s" * 32))
    port = server.bind()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with EngineClient("127.0.0.1", port, "s" * 32).connect() as client:
            client.segment(_grey(), _geometry((1, 16, 16)))
            client.segment(_grey(), _geometry((1, 16, 16)), strict=False)
            client.segment(_grey(), _geometry((1, 16, 16)), strict=True)
    finally:
        server.shutdown()
    assert ["strict" in options for options in sent_options] == [False, False, True]
    assert sent_options[2]["strict"] is True


def test_an_engine_older_than_the_option_is_named_as_too_old(model_folder, monkeypatch):
    """An engine that predates ``strict`` (simulated by removing it from the engine's option table, which both
    its welcome and its request check read) refuses nothing by surprise: the client refuses before sending the
    volume, with ``engine_too_old``. An engine older still, whose welcome has no option list, refuses the
    unknown option itself; the client turns that into the same code."""
    from SDSegLogic.pipeline import SDSegPipeline
    from SDSegLogic.server import jobs
    from SDSegLogic.server.engine import EngineOptions, EngineServer

    server = EngineServer(SDSegPipeline.from_pretrained(model_folder, device="cpu"), EngineOptions(token="o" * 32))
    port = server.bind()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with EngineClient("127.0.0.1", port, "o" * 32).connect() as client:
            assert {"strict", "modality", "slices"} <= set(client.welcome["segment_options"])
        monkeypatch.delitem(jobs.DEFAULT_OPTIONS, "strict")
        with EngineClient("127.0.0.1", port, "o" * 32).connect() as client:
            assert "strict" not in client.welcome["segment_options"]
            with pytest.raises(EngineError, match=r"does not know the segment options \['strict'\].*older than this"):
                client.segment(_grey(), _geometry((1, 16, 16)), strict=True)
            client.welcome.pop("segment_options")  # as an engine from before the list sends it
            with pytest.raises(EngineError, match=r"unknown segment options \['strict'\].*older than this") as info:
                client.segment(_grey(), _geometry((1, 16, 16)), strict=True)
            assert info.value.code == "engine_too_old"
    finally:
        server.shutdown()
