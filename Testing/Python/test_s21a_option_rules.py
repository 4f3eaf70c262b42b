"""One rule for the run options of a Slicer script and of the engine's public segment API.

Slicer's ``SDSegModuleLogic.process(steps=2.0)`` ran 2 steps (``SDSegLib.run_options`` took a
float with a whole value) while ``segment_array(num_inference_steps=2.0)`` refused the same value
(``SDSegLogic.segment_options`` took only integers); and the two sides described each option in
their own words (``steps=0`` was "sampling steps: 1 is the paper's single step, more run DDIM
sampling" in Slicer, "1 for the paper's single step, more for DDIM" in the segment API). Both now
use the one rule and table of :mod:`SDSegLogic.segment_options`. Real tiny pipeline; no Slicer needed
for ``run_options``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from engine_test_helpers import ramp_volume, segment_quietly, tiny_cpu_pipelines

from SDSegLogic.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "SDSegExtension"))

ENGINE_NAMES = {"steps": "num_inference_steps", "samples": "num_samples", "batchSize": "batch_size"}


def _accepted(check, *args) -> bool:
    try:
        check(*args)
    except InputError:
        return False
    return True


# (value, whether it is a whole number >= 1): ints of Python and NumPy, and floats with a whole value, are;
# a fraction, a bool, text, None, NaN and infinity are not.
VALUES = [(2, True), (np.int64(2), True), (2.0, True), (np.float64(2.0), True), (np.float32(3.0), True), (2.5, False),
          (True, False), ("2", False), (None, False), (float("nan"), False), (float("inf"), False)]


@pytest.mark.parametrize("value, whole", VALUES, ids=[repr(value) for value, _ in VALUES])
def test_s21a_slicer_and_segment_api_take_the_same_whole_numbers(value, whole):
    from SDSegLib.run_options import check_run_options
    from SDSegLogic.segment_options import check_count, check_seed

    for argument, option in ENGINE_NAMES.items():
        slicer_side = _accepted(lambda: check_run_options("cpu", **{argument: value}))
        assert slicer_side == whole, (argument, value, slicer_side)  # before: Slicer took 2.0, the API refused it
        assert _accepted(check_count, option, value) == whole, (option, value)
    if value is not None:  # seed=None: a random seed for the segment API; a script's run takes a fixed one
        assert _accepted(check_seed, value) == whole, value
        assert _accepted(lambda: check_run_options("cpu", seed=value)) == whole, value


def test_s21a_segment_array_runs_a_whole_float_as_its_int():
    array, geometry = ramp_volume()
    result = segment_quietly(array, geometry, tiny_cpu_pipelines()["binary"], batch_size=2.0, num_samples=2.0,
                             num_inference_steps=np.float64(2.0), seed=5.0)
    assert (result.num_samples, result.num_inference_steps, result.seed) == (2, 2, 5)
    assert all(type(v) is int for v in (result.num_samples, result.num_inference_steps, result.seed))
    assert result.variance is not None  # two samples really ran


@pytest.mark.parametrize("argument", sorted(ENGINE_NAMES))
def test_s21a_an_option_means_the_same_in_both_refusals(argument):
    from SDSegLib.run_options import check_run_options
    from SDSegLogic.segment_options import check_count

    with pytest.raises(InputError) as slicer_side:
        check_run_options("cpu", **{argument: 0})
    meaning = re.search(r"\(([^()]+)\)", str(slicer_side.value)).group(1)
    with pytest.raises(InputError) as api_side:
        check_count(ENGINE_NAMES[argument], 0)
    assert f"({meaning})" in str(api_side.value), (meaning, str(api_side.value))
