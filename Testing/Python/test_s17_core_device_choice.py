"""Device names are checked where they are chosen, with a message naming the value and what works here.

Before, ``"CPU"`` (capitals) failed with PyTorch's list of 20 backend names, ``"mps"`` on Linux and
``"meta"`` were accepted and failed later (or produced no data) when the model was moved, and
``"cuda:1"`` on a one-GPU machine was accepted and failed inside CUDA ("invalid device ordinal").
The CUDA device count is a parameter, so the index check runs on a CPU-only machine too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from engine_test_helpers import tiny_card, tiny_model

from SDSegLogic.device import resolve_device
from SDSegLogic.errors import InputError
from SDSegLogic.pipeline import SDSegPipeline


@pytest.mark.parametrize("name", ["CPU", " cpu ", "Cpu", "cpu:0"])
def test_cpu_names_in_any_case_give_the_cpu(name):
    assert resolve_device(name, cuda_devices=0, mps_available=False) == torch.device("cpu")


@pytest.mark.parametrize("name", ["AUTO", "Auto", None])
def test_auto_in_any_case_follows_the_cuda_count(name):
    assert resolve_device(name, cuda_devices=0, mps_available=False) == torch.device("cpu")
    assert resolve_device(name, cuda_devices=2, mps_available=False) == torch.device("cuda")


@pytest.mark.parametrize("name, count", [("cuda:1", 1), ("CUDA:3", 2), ("cuda:0", 0), ("cuda", 0)])
def test_a_cuda_device_that_is_not_here_is_refused_with_the_ones_that_are(name, count):
    with pytest.raises(InputError) as info:
        resolve_device(name, cuda_devices=count, mps_available=False)
    text = str(info.value)
    assert repr(name) in text
    assert ("cuda:0" in text) if count else ("cpu" in text)


@pytest.mark.parametrize("name, count, expected", [("cuda:1", 2, "cuda:1"), ("Cuda:0", 1, "cuda:0"), ("cuda", 1, "cuda")])
def test_a_cuda_device_that_is_here_is_returned(name, count, expected):
    assert resolve_device(name, cuda_devices=count, mps_available=False) == torch.device(expected)


@pytest.mark.parametrize("name", ["mps", "MPS"])
def test_mps_where_it_is_not_available_is_refused(name):
    with pytest.raises(InputError, match=rf"'{name}'.*MPS is not available.*use auto or cpu"):
        resolve_device(name, cuda_devices=0, mps_available=False)
    assert resolve_device(name, cuda_devices=0, mps_available=True) == torch.device("mps")


@pytest.mark.parametrize("name", ["meta", "xpu", "gpu", "cuda:-1", "cuda:x", "", 1.5, True])
def test_unknown_device_names_are_refused_naming_the_value(name):
    with pytest.raises(InputError) as info:
        resolve_device(name, cuda_devices=1, mps_available=False)
    assert repr(name) in str(info.value) or repr(str(name)) in str(info.value)
    assert "cpu" in str(info.value)


def test_pipeline_on_cpu_in_capitals_segments_and_mps_here_is_refused_up_front():
    pipe = SDSegPipeline(tiny_model(seed=1), tiny_card(), device="CPU")
    assert pipe.device == torch.device("cpu") and pipe.dtype == torch.float32
    images = torch.zeros(1, 3, pipe.sample_size, pipe.sample_size)
    assert np.isfinite(np.asarray(pipe(images, seed=0).probabilities)).all()
    if not torch.backends.mps.is_available():
        with pytest.raises(InputError, match="MPS is not available"):
            SDSegPipeline(tiny_model(seed=1), tiny_card(), device="mps")


def test_fp16_chosen_on_a_cpu_without_native_fp16_is_named_in_a_warning():
    """``--precision fp16`` on the CPU used to run silently (~100x slower than fp32 on an AVX512 CPU)."""
    from SDSegLogic.device import cpu_has_native_fp16, slow_cpu_dtype_note

    pipe = SDSegPipeline(tiny_model(seed=1), tiny_card(), device="cpu", dtype="fp16")
    chosen = {pipe.dtype, pipe.unet_dtype}
    assert chosen == {torch.float16}
    note = slow_cpu_dtype_note(pipe.device, chosen, "use --precision auto (fp32 on the CPU)")
    if cpu_has_native_fp16():
        assert note is None
    else:
        assert note is not None and "fp16" in note and "bf16" not in note and "--precision auto" in note
    assert slow_cpu_dtype_note(pipe.device, {torch.float32}, "x") is None
    assert slow_cpu_dtype_note(torch.device("cuda"), chosen, "x") is None
