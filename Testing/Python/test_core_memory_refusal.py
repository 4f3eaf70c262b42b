"""The memory refusal names remedies that lower the need, and not a slice range, which does not.

The outputs (labels, and the soft maps and variance when kept) cover the whole input grid
whatever slice range is segmented, so a volume refused over the budget is refused for a
one-slice range too. The refusal used to say "Segment part of it (slices='A:B', --slices A:B)"
and nothing about the soft maps, whose absence is what lets such a volume fit.
"""

from __future__ import annotations

import numpy as np
import pytest
from io_test_helpers import make_card

from SDSegLogic.errors import InputError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.segment_plan import plan_segmentation

GRID = ImageGeometry((0.8, 0.8, 2.0), (0.0, 0.0, 0.0), np.eye(3), (96, 80, 60))
CARD = make_card(num_classes=3)


def _need(**kwargs) -> int:
    return plan_segmentation(GRID.array_shape, GRID, CARD, model_size=32, max_bytes=2**62, **kwargs).estimated_bytes


def _refusal(budget: int, **kwargs) -> str:
    with pytest.raises(InputError, match="more than the budget") as caught:
        plan_segmentation(GRID.array_shape, GRID, CARD, model_size=32, max_bytes=budget, source="ct.nrrd", **kwargs)
    return str(caught.value)


def test_a_slice_range_is_not_offered_because_it_does_not_lower_the_need():
    budget = (_need() + _need(keep_probabilities=False)) // 2
    message = _refusal(budget, slices="0:1")  # one slice of sixty: still refused
    assert _need(slices="0:1") > budget
    assert "Segment part of it" not in message and "slice range (--slices A:B) does not lower this" in message


def test_dropping_the_soft_maps_is_offered_and_then_fits():
    budget = (_need() + _need(keep_probabilities=False)) // 2
    message = _refusal(budget)
    assert "ct.nrrd" in message and "keep_probabilities=False" in message and "--prob-map" in message
    plan_segmentation(GRID.array_shape, GRID, CARD, model_size=32, max_bytes=budget, keep_probabilities=False)


def test_dropping_the_uncertainty_maps_is_offered_and_then_fits():
    budget = (_need(num_samples=4) + _need(num_samples=4, keep_variance=False)) // 2
    message = _refusal(budget, num_samples=4)
    assert "keep_variance=False" in message and "--uncertainty" in message
    plan_segmentation(GRID.array_shape, GRID, CARD, model_size=32, max_bytes=budget, num_samples=4, keep_variance=False)


def test_a_lean_plan_over_the_budget_offers_only_cropping_and_a_larger_budget():
    message = _refusal(_need(keep_probabilities=False) // 2, keep_probabilities=False)
    assert "keep_probabilities" not in message and "keep_variance" not in message
    assert "crop the volume" in message and "SDSEG_MAX_BYTES" in message
