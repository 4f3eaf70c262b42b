"""A ``corners-bilinear`` model's soft maps go back to the native grid with the corners aligned, as they came in.

The card's ``corners-bilinear`` input resize (the official STS-3D ``scipy.ndimage.zoom(order=1)``) takes
model pixel m from native position ``m * (n - 1) / (S - 1)``; its training masks were placed the same
way. Resizing the model's soft maps back with pixel CENTRES aligned instead moved the result by up
to half a voxel (a 64-column ramp came back 0.46 columns off in the middle of the slice).
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from engine_test_helpers import segment_quietly, tiny_card, tiny_model
from io_test_helpers import geometry_for, make_card, signed_permutations

from SDSegLogic.pipeline import SDSegPipeline
from SDSegLogic.preprocessing import network_input


class MappedImagePredictor:
    """Deterministic stand-in whose soft map is the network input itself, mapped to [0, 1] ((x + 1) / 2)."""

    def __init__(self, card, size: int):
        self.model_card, self.config = card, SimpleNamespace(sample_size=size)

    def predict_probabilities(self, images, num_inference_steps=1, num_samples=1, seed=0):
        return ((images.mean(axis=1, keepdims=True) + 1.0) / 2.0).astype(np.float32), None


@pytest.mark.parametrize("native, size", [((30, 64), 32), ((21, 24), 64), ((50, 37), 32)],
                         ids=["shrink-in", "grow-in", "odd"])
@pytest.mark.parametrize("direction", [0, 13], ids=["LPS", "permuted-flipped"])
def test_a_linear_ramp_comes_back_on_the_voxels_it_came_from(native, size, direction):
    """With the identity stand-in, every voxel's probability is its own ramp value (bilinear keeps ramps exactly)."""
    card = dataclasses.replace(make_card(kind="minmax"), image_resize="corners-bilinear")
    rows, columns = native
    g = geometry_for(signed_permutations()[direction], shape_kji=(3, rows, columns))
    k, j, i = np.indices(g.array_shape, dtype=np.float64)
    ramp = (0.3 * j / (rows - 1) + 0.7 * i / (columns - 1)).astype(np.float32)  # p = ramp after min-max mapping
    result = segment_quietly(ramp, g, MappedImagePredictor(card, size))
    error = np.abs(result.probabilities - ramp)
    assert error.max() < 1e-5, f"the soft map moved: {error.max() * (columns - 1):.3f} columns at worst"
    clear = np.abs(ramp - card.threshold) > 1e-4  # no voxel at a rounding tie
    assert np.array_equal(result.labels[clear], (ramp > card.threshold)[clear])


@pytest.mark.parametrize("device_postprocess", [False, True], ids=["host", "device"])
@pytest.mark.parametrize("native", [(20, 26), (40, 44)], ids=["grow", "shrink"])
def test_a_real_model_is_resized_back_with_aligned_corners(device_postprocess, native):
    """A tiny real SDSeg model under a corners-bilinear card, both post-processing paths."""
    card = dataclasses.replace(tiny_card(), image_resize="corners-bilinear")
    pipe = SDSegPipeline(tiny_model(seed=1), card, device="cpu")
    size = int(pipe.config.sample_size)
    g = geometry_for(np.eye(3), shape_kji=(2,) + native)
    array = np.random.default_rng(3).normal(40, 120, g.array_shape).astype(np.float32)
    result = segment_quietly(array, g, pipe, device_postprocess=device_postprocess, seed=0)
    x = network_input(array, "repeat", card.intensity, size, resize="corners-bilinear")
    soft, _ = pipe.predict_probabilities(x, seed=0)
    expected = F.interpolate(torch.from_numpy(soft), size=native, mode="bilinear", align_corners=True)
    expected = expected.clamp(0.0, 1.0)[:, 0].numpy()
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-6)
    clear = np.abs(expected - card.threshold) > 1e-5
    assert np.array_equal(result.labels[clear], (expected > card.threshold)[clear].astype(np.uint8))
    assert 0 < int(np.count_nonzero(result.labels)) < result.labels.size  # the comparison is not trivial
