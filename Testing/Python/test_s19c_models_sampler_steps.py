"""``make_sampler`` / ``DDIMSampler`` refuse a step count that is not a whole number in 1..T.

``int()`` truncated 2.7 to 2 DDIM steps, turned 1.5 and ``True`` into the single step and read the
string ``"3"`` as 3; the Python API and the Slicer logic call these directly (the CLI checks its own).
"""

from __future__ import annotations

import pytest

from SDSegLogic.schedulers import DDIMSampler, NoiseSchedule, make_sampler


@pytest.mark.parametrize("steps", [2.7, 1.5, True, "3", 0, -2, 1001, float("nan")])
def test_invalid_step_counts_are_refused_naming_the_value(steps):
    schedule = NoiseSchedule()
    for build in (make_sampler, DDIMSampler):
        with pytest.raises(ValueError, match="num_inference_steps") as caught:
            build(schedule, steps)
        assert repr(steps) in str(caught.value) and "1..1000" in str(caught.value)


def test_whole_step_counts_still_build_their_timesteps():
    schedule = NoiseSchedule()
    assert make_sampler(schedule, 3).timesteps == make_sampler(schedule, 3.0).timesteps
    assert len(make_sampler(schedule, 3).timesteps) == 3
    assert make_sampler(schedule, 1).timesteps == [999]


def test_a_bool_eta_is_refused():
    with pytest.raises(ValueError, match="eta"):
        make_sampler(NoiseSchedule(), 2, eta=True)
