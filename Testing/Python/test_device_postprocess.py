"""Resize back + threshold/argmax on the predictor's device (``segment_array(device_postprocess=True)``).

On the CPU the device path must be bit-identical to the host path (NumPy after the predictor):
labels, kept probabilities, variance and voxel counts, on a tiny real SDSeg model, binary and
multi-class, growing and shrinking slices, on a reoriented grid with a slice range, overlapped or
not. The CUDA side runs the same code; it is exercised by ``benchmarks/bench_volume.py`` on a GPU.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch
from engine_test_helpers import segment_quietly, tiny_cpu_pipelines
from io_test_helpers import geometry_for, signed_permutations

from SDSegLogic.device_postprocess import NativeBatch, postprocess_on_device
from SDSegLogic.errors import ModelCardError


@pytest.fixture(scope="module")
def pipes():
    return tiny_cpu_pipelines()


@pytest.mark.parametrize("kind", ["binary", "multi"])
@pytest.mark.parametrize("num_samples", [1, 2])
@pytest.mark.parametrize("shape", [(7, 40, 44), (6, 20, 26)], ids=["grow", "shrink"])
def test_device_path_equals_host_path_on_a_real_model(pipes, kind, num_samples, shape):
    pipe = pipes[kind]
    g = geometry_for(signed_permutations()[21], shape_kji=shape)
    array = np.random.default_rng(7).normal(20, 120, shape).astype(np.float32)
    kwargs = dict(batch_size=2, slices="1:-1", num_samples=num_samples, seed=0)
    host = segment_quietly(array, g, pipe, device_postprocess=False, **kwargs)
    device = segment_quietly(array, g, pipe, device_postprocess=True, overlap=True, **kwargs)
    assert device.labels.dtype == np.uint8 and device.labels.shape == array.shape
    assert np.array_equal(host.labels, device.labels) and np.array_equal(host.probabilities, device.probabilities)
    assert host.voxel_counts == device.voxel_counts and sum(device.voxel_counts.values()) > 0
    if num_samples > 1:
        assert np.array_equal(host.variance, device.variance)
    else:
        assert device.variance is None
    lean = segment_quietly(array, g, pipe, device_postprocess=True, keep_probabilities=False, **kwargs)
    assert lean.probabilities is None and np.array_equal(lean.labels, host.labels)


def test_device_path_is_only_the_default_for_cuda_predictors(pipes, monkeypatch):
    pipe = pipes["binary"]
    calls = []
    original = pipe.predict_native
    monkeypatch.setattr(pipe, "predict_native", lambda *a, **k: calls.append(1) or original(*a, **k))
    g = geometry_for(np.eye(3), shape_kji=(2, 36, 36))
    array = np.random.default_rng(0).normal(0, 100, (2, 36, 36)).astype(np.float32)
    segment_quietly(array, g, pipe)
    assert calls == []  # a CPU pipeline: NumPy on the host, which is the same cores anyway
    segment_quietly(array, g, pipe, device_postprocess=True)
    assert calls == [1]


def test_ties_and_threshold_follow_the_host_rules():
    # class maps with exact ties: the lowest class index wins, as np.argmax
    mean = torch.zeros(1, 3, 2, 2)
    mean[0, :, 0, 0] = torch.tensor([0.2, 0.4, 0.4])
    mean[0, :, 0, 1] = torch.tensor([0.5, 0.5, 0.0])
    mean[0, :, 1, 0] = torch.tensor([0.1, 0.2, 0.7])
    mean[0, :, 1, 1] = torch.tensor([1 / 3, 1 / 3, 1 / 3])
    out = postprocess_on_device(mean, None, (2, 2), np.array([0, 5, 9], np.uint8), 0.5)
    assert out.labels.tolist() == [[[5, 0], [9, 0]]] and out.finite
    assert np.array_equal(out.probabilities, mean.numpy())
    # binary: strictly above the threshold, label value of class 1
    p = torch.tensor([[[[0.5, 0.51], [0.0, 1.0]]]])
    binary = postprocess_on_device(p, None, (2, 2), np.array([0, 7], np.uint8), 0.5, keep_probabilities=False)
    assert binary.labels.tolist() == [[[0, 7], [0, 7]]] and binary.probabilities is None
    broken = postprocess_on_device(p * float("nan"), None, (4, 4), np.array([0, 7], np.uint8), 0.5)
    assert not broken.finite


class _BrokenNative:
    """A predictor whose device path reports NaN maps (as fp16 overflow would)."""

    def __init__(self, pipe):
        self.model_card, self.config, self.device = pipe.model_card, pipe.config, pipe.device

    def predict_probabilities(self, images, **kwargs):  # pragma: no cover - not reached
        raise AssertionError("the device path must be used")

    def predict_native(self, images, in_plane, values, threshold, **kwargs):
        b = images.shape[0]
        return NativeBatch(np.zeros((b, *in_plane), np.uint8), None, None, finite=False)


def test_nan_maps_from_the_device_path_are_rejected(pipes):
    g = geometry_for(np.eye(3), shape_kji=(2, 36, 36))
    array = np.zeros((2, 36, 36), np.float32)
    with pytest.raises(ModelCardError, match="NaN/inf"):
        segment_quietly(array, g, _BrokenNative(pipes["binary"]), device_postprocess=True, keep_probabilities=False)
