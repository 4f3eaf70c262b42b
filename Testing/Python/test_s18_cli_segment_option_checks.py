"""The public segment API names a bad option, its value and the remedy, before any slice is segmented.

``segment_array(..., batch_size=2.5)`` used to fail with a bare ``TypeError: 'float' object cannot be
interpreted as an integer``; ``num_samples=2.5`` silently ran 2 samples (and recorded 2);
``num_inference_steps=2.5`` ran 2 steps; ``seed="abc"`` failed in the first batch with
``invalid literal for int()`` and ``seed=2**70`` with ``Overflow when unpacking long long``;
``max_bytes=-5`` refused the volume as too large for a "budget of -5 B", offering to crop it.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_test_helpers import ramp_volume, segment_quietly, tiny_cpu_pipelines

from SDSegLogic.errors import InputError


@pytest.fixture(scope="module")
def pipes():
    return tiny_cpu_pipelines()


class _Counting:
    """A real pipeline whose predictor calls are counted (to show that a refusal did no work)."""

    def __init__(self, pipe) -> None:
        self._pipe, self.calls = pipe, 0

    def __getattr__(self, name):
        return getattr(self._pipe, name)

    def predict_probabilities(self, images, **kwargs):
        self.calls += 1
        return self._pipe.predict_probabilities(images, **kwargs)


@pytest.mark.parametrize("option, value", [
    ("batch_size", 2.5), ("batch_size", True), ("batch_size", "2"),
    ("num_samples", 2.5), ("num_samples", "3"), ("num_inference_steps", 2.5), ("num_inference_steps", 0),
    ("seed", "abc"), ("seed", 2**70), ("seed", 1.5), ("max_bytes", -5), ("max_bytes", "big"),
])
def test_a_bad_option_is_refused_by_name_before_any_slice(pipes, option, value):
    array, geometry = ramp_volume()
    counting = _Counting(pipes["binary"])
    with pytest.raises(InputError) as caught:
        segment_quietly(array, geometry, counting, source="ct.nrrd", **{option: value})
    message = str(caught.value)
    assert f"{option}={value!r}" in message and "ct.nrrd" in message and "e.g." in message, message
    assert counting.calls == 0


def test_whole_numbers_of_any_integer_type_still_work(pipes):
    array, geometry = ramp_volume()
    result = segment_quietly(array, geometry, pipes["binary"], batch_size=np.int64(2), num_samples=np.int32(2),
                             num_inference_steps=np.int64(2), seed=np.int64(5), max_bytes=2**30)
    assert (result.num_samples, result.num_inference_steps, result.seed) == (2, 2, 5)
    assert result.variance is not None and result.labels.shape == array.shape


@pytest.mark.parametrize("option, value", [("num_samples", 2.5), ("num_inference_steps", 1.5), ("num_samples", True)])
def test_the_pipeline_refuses_fractional_counts_instead_of_truncating(pipes, option, value):
    pipe = pipes["binary"]
    images = np.zeros((1, 3, pipe.sample_size, pipe.sample_size), dtype=np.float32)
    with pytest.raises(InputError, match=rf"{option}={value!r}.*whole number"):
        pipe(images, **{option: value})
