"""The pipeline's record of its noise, values the float32 engine cannot hold, and honest progress.

* ``SDSegOutput.seed`` is the seed that reproduces the output, also when the noise came from a
  ``torch.Generator``; ``segment_array(seed=None)`` draws one seed for the whole volume and records it.
* A float64 volume with values beyond float32 (1e300) is refused as out of range, naming the
  file, the value and its voxel, under either NaN policy (it is neither NaN nor infinite).
* The overlapped batch loop reports slices as done only once they are stored.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from engine_test_helpers import random_slices, segment_quietly, tiny_card, tiny_model
from io_test_helpers import geometry_for

from SDSegLogic.errors import InputError
from SDSegLogic.pipeline import SDSegPipeline
from SDSegLogic.segment_loop import _run_overlapped, _run_sequential


@pytest.fixture(scope="module")
def pipe() -> SDSegPipeline:
    return SDSegPipeline(tiny_model(seed=1), tiny_card(), device="cpu")


def _ct(shape=(3, 40, 44), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-200.0, 300.0, shape)  # float64, HU


# ---------------------------------------------------------------------- the seed of the noise
def test_a_fresh_generator_reports_the_seed_that_reproduces_the_output(pipe):
    x = random_slices(2)
    out = pipe(x, generator=torch.Generator().manual_seed(7))
    assert out.seed is not None
    again = pipe(x, seed=out.seed)
    assert torch.equal(out.probabilities, again.probabilities), f"seed {out.seed} does not reproduce the output"


def test_a_used_generator_reports_no_seed(pipe):
    """Once a generator has drawn, no seed reproduces its next draws: the output says None, not a wrong number."""
    x = random_slices(2)
    generator = torch.Generator().manual_seed(7)
    torch.randn(3, generator=generator)
    out = pipe(x, seed=5, generator=generator)  # the generator takes precedence: seed 5 is not used
    assert not torch.equal(pipe(x, seed=5).probabilities, out.probabilities)
    assert out.seed is None


def test_segment_array_without_a_seed_draws_one_for_the_whole_volume_and_records_it(pipe):
    array = _ct()
    geometry = geometry_for(np.eye(3), array.shape)
    result = segment_quietly(array, geometry, pipe, seed=None, batch_size=1)
    assert isinstance(result.seed, int)
    again = segment_quietly(array, geometry, pipe, seed=result.seed, batch_size=1)
    np.testing.assert_array_equal(result.probabilities, again.probabilities)
    np.testing.assert_array_equal(result.labels, again.labels)
    # every batch had the same noise: one batch of all slices differs only in the last bits (kernel sums)
    whole = segment_quietly(array, geometry, pipe, seed=result.seed, batch_size=3)
    np.testing.assert_allclose(result.probabilities, whole.probabilities, atol=1e-5)


# ---------------------------------------------------------------------- values beyond float32
@pytest.mark.parametrize("policy", ["reject", "fill"])
@pytest.mark.parametrize("value", [1e300, -1e300])
def test_values_beyond_float32_are_refused_as_out_of_range_not_as_nan(pipe, policy, value):
    array = _ct()
    array[1, 5, 7] = value
    with pytest.raises(InputError) as caught:
        segment_quietly(array, geometry_for(np.eye(3), array.shape), pipe, nan_policy=policy, source="big.nrrd")
    message = str(caught.value)
    assert "big.nrrd" in message and f"{value:g}" in message and "(1, 5, 7)" in message
    assert "float32" in message and "NaN or infinite" not in message


def test_a_nan_beside_an_out_of_range_value_is_still_named(pipe):
    array = _ct()
    array[0, 0, 0] = np.nan
    array[2, 3, 4] = 1e300
    with pytest.raises(InputError, match="float32"):
        segment_quietly(array, geometry_for(np.eye(3), array.shape), pipe, nan_policy="reject", source="both.nrrd")


def test_finite_float64_values_within_float32_are_segmented(pipe):
    array = _ct()
    array[1, 5, 7] = 1e30  # far beyond any CT, but a float32 holds it: the window clips it
    result = segment_quietly(array, geometry_for(np.eye(3), array.shape), pipe)
    assert result.labels.shape == array.shape


# ---------------------------------------------------------------------- progress counts stored slices
@pytest.mark.parametrize("loop", [_run_sequential, _run_overlapped])
def test_progress_counts_only_slices_already_stored(loop):
    batches = [(0, 2), (2, 4), (4, 5)]
    stored, lock = [], threading.Lock()
    seen = []

    def prepare(first, last):
        return np.arange(first, last, dtype=np.float32)

    def predict(x, first, last):
        return x * 2.0, None

    def sink(first, last, p, v):
        time.sleep(0.2)  # host work after the network (resize back, argmax) takes a while
        with lock:
            stored.extend(range(first, last))

    def progress(done, total):
        with lock:
            seen.append((done, total, len(stored)))

    loop(batches, prepare, predict, sink, progress, None, "test")
    assert [(done, total) for done, total, _ in seen] == [(2, 5), (4, 5), (5, 5)]
    for done, total, count in seen:
        assert count >= done, f"progress said {done}/{total} done when {count} slices were stored"
