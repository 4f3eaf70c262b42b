"""What the model sees is the same patient anatomy, the same way up, whatever the storage order.

A guard (it passes before and after this round's fixes): the other 48-permutation tests use a
per-pixel predictor, which cannot notice a slice handed to the model transposed or mirrored. Here
the predictor marks a fixed corner of its input slice (top third of the rows, left half of the
columns), so the labelled voxels are a fixed region of patient space for a given card
orientation; every signed axis permutation of the same cube must label the same LPS points, and
for an ``LPS`` card that region is the patient's right (x < 0) and anterior (y < 0) side.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from io_test_helpers import make_card, signed_permutations

from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.segment import segment_array

N = 10  # voxels along each axis of the cube


class _CornerPredictor:
    """Foreground in the first third of the rows and the first half of the columns of every slice."""

    def __init__(self, card) -> None:
        self.model_card = card
        self.config = SimpleNamespace(sample_size=24)

    def predict_probabilities(self, images, num_inference_steps=1, num_samples=1, seed=0):
        size = images.shape[-1]
        p = np.zeros((images.shape[0], 1, size, size), dtype=np.float32)
        p[:, :, : size // 3, : size // 2] = 1.0
        return p, None


def _labelled_points(direction: np.ndarray, card, thin_axis=None) -> frozenset:
    """LPS points (mm, rounded) labelled in a cube of side N centred on the origin, stored with ``direction``."""
    shape = [N, N, N]
    if thin_axis is not None:
        shape[thin_axis] = 1
    origin = -direction @ ((np.array(shape) - 1) / 2.0)
    g = ImageGeometry((1.0, 1.0, 1.0), tuple(origin), direction, tuple(shape))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = segment_array(np.zeros(g.array_shape, np.float32), g, _CornerPredictor(card)).labels
    k, j, i = np.nonzero(labels)
    return frozenset(map(tuple, np.round(g.index_to_world(np.stack([i, j, k], axis=1).astype(float)), 6)))


@pytest.mark.parametrize("code", ["LPS", "RAS", "LIP"])
def test_every_storage_order_labels_the_same_patient_region(code):
    card = make_card(orientation=code)
    regions = {_labelled_points(d, card) for d in signed_permutations()}
    assert len(regions) == 1
    points = np.array(sorted(next(iter(regions))))
    assert len(points) > 0
    if code == "LPS":  # columns run to the patient's left and rows to posterior: the corner is right-anterior
        assert points[:, 0].max() < 0 and points[:, 1].max() < 0


@pytest.mark.parametrize("thin_world_axis", [0, 1, 2])
def test_a_single_slice_labels_the_same_region_whatever_its_storage_order(thin_world_axis):
    card = make_card()
    regions = set()
    for d in signed_permutations():
        thin = int(np.flatnonzero(np.abs(d[thin_world_axis]) > 0.5)[0])  # the voxel axis across that patient axis
        regions.add(_labelled_points(d, card, thin_axis=thin))
    assert len(regions) == 1 and len(next(iter(regions))) > 0
