"""The engine keeps the full-size variance map only when the client asked for it.

With ``num_samples > 1`` the volume pipeline used to allocate (and fill) a float32 variance map
on the input grid for every job, although the engine sends it only for ``want_variance``. A real
in-process engine serves a tiny random-weight model; its volume pipeline is the real
``segment_array``, wrapped to keep the result it returns.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine_fixtures import make_tiny_model, serving_engine
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.segment import segment_array
from SDSegLogic.server.client import EngineClient

TOKEN = "variance-kept-" + "t" * 32
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture()
def engine_and_results(tmp_path):
    from SDSegLogic.pipeline import SDSegPipeline

    results = []

    def keeping_segment_array(*args, **kwargs):
        results.append(segment_array(*args, **kwargs))
        return results[-1]

    pipeline = SDSegPipeline.from_pretrained(make_tiny_model(tmp_path / "tiny-variance"), device="cpu")
    with serving_engine(pipeline, TOKEN, segment_fn=keeping_segment_array) as engine:
        yield engine, results


def test_variance_is_allocated_only_when_asked_for(engine_and_results):
    engine, results = engine_and_results
    image = (np.arange(3 * 32 * 32) % 97).astype(np.int16).reshape(3, 32, 32)
    geometry = ImageGeometry((0.8, 0.8, 2.0), (1.0, 2.0, 3.0), np.eye(3), (32, 32, 3))
    with EngineClient("127.0.0.1", engine.port, TOKEN, timeout=30) as client:
        without = client.segment(image, geometry, num_samples=2, seed=5)
        with_variance = client.segment(image, geometry, num_samples=2, seed=5, want_variance=True)
    assert results[0].variance is None and without.variance is None
    assert results[1].variance is not None and results[1].variance.shape == (3, 32, 32)
    assert with_variance.variance is not None and with_variance.variance.shape == (3, 32, 32)
    assert np.array_equal(without.labels, with_variance.labels)  # the labels do not depend on keeping it
