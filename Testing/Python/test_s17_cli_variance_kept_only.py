"""The variance over samples is resized back and copied to the host only when it is kept.

``sdseg segment --samples 4`` without ``--uncertainty`` (and the engine without ``want_variance``)
segments with ``keep_variance=False``: the variance map is then never returned, so resizing each
batch's variance to the native grid (and, on CUDA, copying it to the host) is wasted work as
large as the soft maps. A tiny real model on the CPU; the resizes back to the native grid are
counted with a torch function mode (an observer: every call still runs), and the labels must not change.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F
from engine_test_helpers import segment_quietly, tiny_cpu_pipelines
from io_test_helpers import geometry_for
from torch.overrides import TorchFunctionMode

SHAPE = (4, 36, 44)  # (K, J, I): the native in-plane grid (36, 44) differs from the model's 32 x 32


@pytest.fixture(scope="module")
def pipes():
    return tiny_cpu_pipelines()


class _ResizesTo(TorchFunctionMode):
    """Counts the ``F.interpolate`` calls whose output is ``size`` (the resizes back to the native grid)."""

    def __init__(self, size) -> None:
        super().__init__()
        self.size, self.count = tuple(size), 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.interpolate and tuple(kwargs.get("size") or ()) in (self.size, self.size[::-1]):
            self.count += 1
        return func(*args, **kwargs)


def _segment(pipe, array, geometry, **kwargs):
    with _ResizesTo(SHAPE[1:]) as resizes:
        result = segment_quietly(array, geometry, pipe, batch_size=2, seed=0, **kwargs)
    return result, resizes.count


@pytest.mark.parametrize("device_postprocess", [False, True], ids=["host", "device"])
def test_an_unkept_variance_is_never_resized_back(pipes, device_postprocess):
    pipe = pipes["binary"]
    g = geometry_for(np.eye(3), shape_kji=SHAPE)
    array = np.random.default_rng(3).normal(20, 120, SHAPE).astype(np.float32)
    options = dict(device_postprocess=device_postprocess, keep_probabilities=False)
    one, one_resizes = _segment(pipe, array, g, num_samples=1, **options)
    kept, kept_resizes = _segment(pipe, array, g, num_samples=2, keep_variance=True, **options)
    lean, lean_resizes = _segment(pipe, array, g, num_samples=2, keep_variance=False, **options)
    assert one_resizes > 0 and kept_resizes == 2 * one_resizes  # the counter sees the soft maps and the variance
    assert lean_resizes == one_resizes, "the variance was resized back although it is not kept"
    assert lean.variance is None and kept.variance is not None and kept.variance.shape == SHAPE
    assert np.array_equal(lean.labels, kept.labels) and lean.voxel_counts == kept.voxel_counts


def test_predict_native_returns_no_variance_unless_kept(pipes):
    pipe = pipes["binary"]
    x = np.random.default_rng(5).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    values = np.asarray(pipe.model_card.label_values(), np.uint8)
    kept = pipe.predict_native(x, SHAPE[1:], values, 0.5, num_samples=2)
    lean = pipe.predict_native(x, SHAPE[1:], values, 0.5, num_samples=2, keep_variance=False)
    assert kept.variance is not None and kept.variance.shape == (2, 1) + SHAPE[1:]
    assert lean.variance is None
    assert np.array_equal(lean.labels, kept.labels) and np.array_equal(lean.probabilities, kept.probabilities)
