"""A network precision given as a ``torch.dtype`` is held to the same three choices as its name.

``parse_dtype("float64")`` and ``parse_dtype("int8")`` are refused with an InputError naming the
choices, but the dtype objects passed through unchecked: ``SDSegPipeline(..., dtype=torch.int8)``
failed inside ``nn.Module.to`` with a bare TypeError, and ``dtype=torch.float64`` built a pipeline in
a precision the engine does not support (the same request by name is refused).
"""

from __future__ import annotations

import pytest
import torch
from engine_test_helpers import random_slices, tiny_card, tiny_model

from SDSegLogic.device import parse_dtype
from SDSegLogic.errors import InputError
from SDSegLogic.pipeline import SDSegPipeline


@pytest.mark.parametrize("dtype", [torch.float64, torch.int8, torch.bool, torch.complex64])
def test_an_unsupported_dtype_object_is_refused_as_its_name_is(dtype):
    with pytest.raises(InputError) as caught:
        parse_dtype(dtype)
    text = str(caught.value)
    assert str(dtype).replace("torch.", "") in text and "float32" in text and "bfloat16" in text


@pytest.mark.parametrize("dtype", [torch.int8, torch.float64])
def test_a_pipeline_refuses_it_before_touching_the_model(dtype):
    for key in ("dtype", "unet_dtype"):
        with pytest.raises(InputError):
            SDSegPipeline(tiny_model(), tiny_card(), device="cpu", **{key: dtype})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_the_supported_dtype_objects_still_pass_and_run_with_fp32_latents(dtype):
    assert parse_dtype(dtype) is dtype
    assert parse_dtype(str(dtype).replace("torch.", "")) is dtype
    pipe = SDSegPipeline(tiny_model(seed=2), tiny_card(), device="cpu", dtype=dtype)
    out = pipe(random_slices(1), seed=0)
    assert pipe.dtype == dtype and out.probabilities.dtype == torch.float32
    assert torch.isfinite(out.probabilities).all()
