"""A DDIM eta that is not a finite number is refused, instead of turning every soft map into NaN.

``pipeline(images, num_inference_steps=3, eta=float("nan"))`` used to run and return NaN
probabilities (``nan < 0`` is False, so the ``eta >= 0`` check let it through); ``eta=inf`` did
the same through ``inf * 0``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from engine_test_helpers import tiny_cpu_pipelines

from SDSegLogic.schedulers import DDIMSampler, NoiseSchedule, make_sampler


@pytest.mark.parametrize("eta", [math.nan, math.inf, -math.inf, -0.5])
def test_eta_must_be_a_finite_non_negative_number(eta):
    with pytest.raises(ValueError, match=r"eta must be a finite number >= 0"):
        DDIMSampler(NoiseSchedule(), 4, eta=eta)
    with pytest.raises(ValueError, match=r"eta must be a finite number >= 0"):
        make_sampler(NoiseSchedule(), 4, eta=eta)


def test_the_pipeline_refuses_a_nan_eta_instead_of_returning_nan_maps():
    pipe = tiny_cpu_pipelines()["binary"]
    images = np.zeros((1, 3, pipe.sample_size, pipe.sample_size), dtype=np.float32)
    with pytest.raises(ValueError, match="eta"):
        pipe(images, num_inference_steps=3, eta=math.nan)
    finite = pipe(images, num_inference_steps=3, eta=1.0)  # a finite eta still samples
    assert bool(finite.probabilities.isfinite().all())
