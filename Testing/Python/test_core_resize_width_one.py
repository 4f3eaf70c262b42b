"""Soft maps resized back onto a native slice one pixel wide (a 1 x N picture column, a line of voxels).

PyTorch's antialiased bilinear resize (``F.interpolate(..., antialias=True)``, CPU, torch 2.13)
gives every row the same value when the output is one pixel wide and the height changes too: a
(64, 64) map resized to (1000, 1) came back as one constant, so a 1000 x 1 picture lost its whole
segmentation. Every resize back is compared here with an independent float64 computation of the
same filter (a triangle of half-width ``max(scale, 1)`` input pixels around each output pixel
centre, normalised), on the host path, the device path and through ``segment_array``.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from io_test_helpers import make_card

from SDSegLogic.device_postprocess import postprocess_on_device
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.preprocessing import resize_back
from SDSegLogic.segment import segment_array


def _triangle_weights(n_in: int, n_out: int) -> np.ndarray:
    """float64 (n_out, n_in): antialiased bilinear weights (align_corners=False), rows summing to 1."""
    scale = n_in / n_out
    half_width = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    distance = (np.arange(n_in)[None, :] + 0.5 - centres[:, None]) / half_width
    weights = np.clip(1.0 - np.abs(distance), 0.0, None)
    return weights / weights.sum(axis=1, keepdims=True)


def _reference_resize(maps: np.ndarray, size) -> np.ndarray:
    """float64 (B, C, H, W) -> (B, C, size[0], size[1]), separable triangle filter, clamped to [0, 1]."""
    rows = _triangle_weights(maps.shape[2], size[0])
    cols = _triangle_weights(maps.shape[3], size[1])
    return np.clip(np.einsum("oh,bchw,pw->bcop", rows, maps.astype(np.float64), cols), 0.0, 1.0)


class _IdentityPredictor:
    """A deterministic SlicePredictor: the foreground probability is the input's channel mean mapped to [0, 1]."""

    def __init__(self, card, sample_size: int = 64) -> None:
        self.model_card = card
        self.config = SimpleNamespace(sample_size=sample_size)

    def predict_probabilities(self, images, num_inference_steps=1, num_samples=1, seed=0):
        return ((images.mean(axis=1, keepdims=True) + 1.0) / 2.0).astype(np.float32), None


@pytest.mark.parametrize("size", [(1000, 1), (100, 1), (63, 1), (5, 1), (2, 1), (1, 1000), (1, 5), (31, 17), (90, 3)])
def test_resize_back_matches_the_float64_filter(size):
    maps = np.random.default_rng(3).random((2, 3, 64, 48)).astype(np.float32)
    expected = _reference_resize(maps, size)
    np.testing.assert_allclose(resize_back(maps, size), expected, atol=2e-6, rtol=0)
    on_device = postprocess_on_device(torch.from_numpy(maps), None, size, np.arange(3, dtype=np.uint8), 0.5)
    np.testing.assert_allclose(on_device.probabilities, expected, atol=2e-6, rtol=0)
    assert np.array_equal(on_device.labels, np.argmax(on_device.probabilities, axis=1))


def test_a_picture_one_pixel_wide_is_segmented_like_its_transpose():
    card = make_card()
    column = np.full((1, 1000, 1), -1000.0, dtype=np.float32)  # (K, J, I): 1000 rows, one column
    column[0, 250:500, 0] = 2000.0
    results = []
    row = np.ascontiguousarray(np.swapaxes(column, 1, 2))  # its 1 x 1000 transpose
    for array in (column, row):
        geometry = ImageGeometry.for_array(array)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results.append(segment_array(array, geometry, _IdentityPredictor(card)).labels)
    tall, wide = results
    assert np.array_equal(tall, np.swapaxes(wide, 1, 2))  # transposing the picture transposes its labels
    rows = np.flatnonzero(tall[0, :, 0])
    assert rows.size > 0 and abs(int(rows[0]) - 250) <= 8 and abs(int(rows[-1]) - 499) <= 8
    assert np.count_nonzero(tall != (column > 0)) <= 16  # only the two edges of the stripe may move
