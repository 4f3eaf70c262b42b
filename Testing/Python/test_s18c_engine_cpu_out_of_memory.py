"""A failed CPU allocation in a job is an ``out_of_memory`` error with a CPU remedy, and the engine serves on.

PyTorch's CPU allocator reports an allocation it cannot make as a plain ``RuntimeError``
("DefaultCPUAllocator: can't allocate memory: you tried to allocate ... bytes"), without the words
"out of memory". The engine answered it ``internal_error`` ("unexpected RuntimeError in the engine"),
which a client shows as a bug, where the remedy is a smaller batch or fewer samples. The failure here
is real: the wrapped tiny pipeline asks PyTorch for an exabyte when it is given constant slices.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine_fixtures import make_tiny_model, serving_engine
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.server.client import EngineClient, EngineError
from SDSegLogic.server.jobs import classify_exception

TOKEN = "s18c-cpu-oom-" + "m" * 32
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class AllocatesAnExabyteOnConstantSlices:
    """The real pipeline, except that a batch of constant slices makes it allocate 1 EiB on the CPU."""

    def __init__(self, pipeline) -> None:
        self._pipeline = pipeline

    def __getattr__(self, name: str):
        return getattr(self._pipeline, name)

    def predict_probabilities(self, images: np.ndarray, **kwargs):
        if float(images.max() - images.min()) < 1e-3:
            torch.empty(2**60, dtype=torch.uint8)  # refused at once by the allocator: nothing is allocated
        return self._pipeline.predict_probabilities(images, **kwargs)


def _allocation_failure() -> RuntimeError:
    try:
        torch.empty(2**60, dtype=torch.uint8)
    except RuntimeError as exc:
        return exc
    pytest.skip("this machine allocated 1 EiB")


def _geometry(shape_kji) -> ImageGeometry:
    k, j, i = shape_kji
    return ImageGeometry((1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3), (i, j, k))


def test_the_allocator_failure_is_classified_out_of_memory_with_a_cpu_remedy():
    code, message = classify_exception(_allocation_failure())
    assert code == "out_of_memory", (code, message)
    assert "batch size" in message and "samples" in message
    assert "host memory" in message and "CPU device" not in message  # it already ran on the CPU


def test_a_job_whose_cpu_allocation_fails_gets_out_of_memory_and_the_engine_serves_the_next(tmp_path):
    from SDSegLogic.pipeline import SDSegPipeline

    _allocation_failure()
    pipeline = SDSegPipeline.from_pretrained(make_tiny_model(tmp_path / "tiny-oom"), device="cpu")
    shape = (2, 16, 16)
    with serving_engine(AllocatesAnExabyteOnConstantSlices(pipeline), TOKEN) as engine:
        with EngineClient("127.0.0.1", engine.port, TOKEN, timeout=60).connect() as client:
            with pytest.raises(EngineError) as caught:
                client.segment(np.full(shape, -1000, np.int16), _geometry(shape))
            assert caught.value.code == "out_of_memory", caught.value
            assert "batch size" in caught.value.message and "still running" in caught.value.message
            varied = np.random.default_rng(0).normal(40, 150, shape).astype(np.int16)
            assert client.segment(varied, _geometry(shape)).labels.shape == shape
