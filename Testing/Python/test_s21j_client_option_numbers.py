"""The reference client sends a count as the engine's rule reads it, never truncated.

:meth:`EngineClient.segment` built its options with ``int()``: ``num_samples=2.5`` ran 2 samples
and the result said 2, ``seed=True`` ran seed 1 and ``slices=(0.5, 2)`` ran slices 0..2, the
silent truncation that :mod:`SDSegLogic.segment_options` refuses for the segment API and the
Slicer module. Now such a value is an ``InputError`` naming it before the volume is sent, and a
whole float (``2.0``) runs as its int, as on the other sides. Real engine process, tiny model.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine_fixtures import make_tiny_model
from SDSegLogic.errors import InputError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient, EngineProcess

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder = make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-s21j-client")
    process = EngineProcess.start(folder, "cpu", extra_args=["--threads", "1"],
                                  log_path=tmp_path_factory.mktemp("log") / "engine.log")
    yield process
    process.stop()


def _volume():
    image = (np.arange(2 * 32 * 32, dtype=np.int16).reshape(2, 32, 32) % 200) - 100
    return image, ImageGeometry.identity((32, 32, 2))


@pytest.mark.parametrize("option, value", [("num_samples", 2.5), ("num_inference_steps", 1.5), ("seed", True),
                                           ("batch_size", "8"), ("slices", (0.5, 2))])
def test_s21j_a_fraction_is_refused_before_sending_not_truncated(engine, option, value):
    image, geometry = _volume()
    with EngineClient(engine.host, engine.port, engine.token, timeout=60) as client:
        try:
            output = client.segment(image, geometry, **{option: value})
        except InputError as refused:
            assert f"{option}=" in str(refused) and "whole number" in str(refused), str(refused)
        else:
            pytest.fail(f"{option}={value!r} was sent and ran with options {output.header.get('options')}")
        assert client.ping()["type"] == "pong"  # nothing was sent: the connection is in step


def test_s21j_whole_floats_run_as_their_ints(engine):
    image, geometry = _volume()
    with EngineClient(engine.host, engine.port, engine.token, timeout=60) as client:
        output = client.segment(image, geometry, num_samples=2.0, batch_size=2.0, seed=4.0, slices=(0.0, 1.0),
                                want_variance=True)
    assert output.variance is not None  # two samples ran
    ran = output.header["options"]
    assert (ran["num_samples"], ran["batch_size"], ran["seed"], list(ran["slices"])) == (2, 2, 4, [0, 1]), ran
