"""An empty batch given to the public pipeline is refused with a clear error, not a torch internal one.

``SDSegPipeline(np.zeros((0, 3, 32, 32)))`` (a script that kept no slice after filtering) used to fail
with ``RuntimeError: min(): Expected reduction dim to be specified for input.numel() == 0``, which
``sdseg`` and the engine count as an unexpected error (a bug).
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_test_helpers import tiny_cpu_pipelines

from SDSegLogic.errors import InputError


@pytest.fixture(scope="module")
def pipe():
    return tiny_cpu_pipelines()["binary"]


@pytest.mark.parametrize("entry", ["__call__", "predict_probabilities"])
def test_an_empty_batch_is_an_input_error_naming_its_shape(pipe, entry):
    empty = np.zeros((0, 3, pipe.sample_size, pipe.sample_size), dtype=np.float32)
    with pytest.raises(InputError, match=r"no slice.*\(0, 3, 32, 32\).*at least one"):
        getattr(pipe, entry)(empty)


def test_one_slice_still_works(pipe):
    out = pipe(np.zeros((1, 3, pipe.sample_size, pipe.sample_size), dtype=np.float32))
    assert tuple(out.labels.shape) == (1, pipe.sample_size, pipe.sample_size)
