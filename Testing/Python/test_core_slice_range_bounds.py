"""Slice ranges whose bounds are not whole numbers are refused with an InputError naming the range.

``segment_array(..., slices=(1.5, 3))`` or ``slices=("1", "3")`` (a range read from a text field
or a JSON document) used to end in Python's ``TypeError: slice indices must be integers``, which
names neither the input nor the remedy and escapes the engine's input-error handling.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from io_test_helpers import ThresholdPredictor, geometry_for, make_card, marker_array

from SDSegLogic.errors import InputError
from SDSegLogic.segment import segment_array
from SDSegLogic.segment_plan import parse_slice_range


@pytest.mark.parametrize("slices", [(1.5, 3), ("1", "3"), (0, 2.0), slice(1, 4.5), (True, 3), [None, False]])
def test_bounds_that_are_not_whole_numbers_are_refused(slices):
    with pytest.raises(InputError, match=r"slice range .* whole slice numbers") as caught:
        parse_slice_range(slices, 10, source="ct.nrrd")
    assert "ct.nrrd" in str(caught.value) and repr(slices) in str(caught.value)


@pytest.mark.parametrize("slices, expected", [((np.int64(2), np.int32(5)), (2, 5)), ([None, 3], (0, 3)),
                                              (slice(-3, None), (7, 10)), ("2:", (2, 10))])
def test_integer_bounds_of_any_integer_type_still_work(slices, expected):
    assert parse_slice_range(slices, 10) == expected


def test_segment_array_refuses_a_fractional_range_before_the_predictor_runs():
    predictor = ThresholdPredictor(make_card(), 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match="whole slice numbers"):
            segment_array(marker_array(), geometry_for(np.eye(3)), predictor, slices=(0.5, 3))
    assert predictor.calls == []
