"""Audit: DDIM step counts, the range of ``num_inference_steps`` and the out-of-memory back-off.

Real tiny models (2-level UNet, 8 channels, 32 x 32) on the CPU. A CUDA out-of-memory error
cannot be provoked on the CPU, so the back-off test makes the real autoencoder decoder raise
``torch.cuda.OutOfMemoryError`` for batches above a size, as a too small GPU would.
"""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from engine_test_helpers import random_slices, tiny_card, tiny_model

from SDSegLogic.errors import InputError
from SDSegLogic.pipeline import SDSegPipeline
from SDSegLogic.schedulers import DDIMSampler, NoiseSchedule


@pytest.fixture(scope="module")
def pipe() -> SDSegPipeline:
    return SDSegPipeline(tiny_model(seed=1), tiny_card(), device="cpu")


@pytest.mark.parametrize("steps", [1, 2, 10, 60, 61, 103, 122, 999, 1000])
def test_ddim_runs_exactly_the_requested_steps_at_valid_timesteps(steps):
    """S steps are S timesteps in 0..T-1, strictly decreasing from T-1 (61 used to add t = -1)."""
    timesteps = DDIMSampler(NoiseSchedule(), steps).timesteps
    assert len(timesteps) == steps
    assert timesteps[0] == 999 and min(timesteps) >= 0
    assert all(a > b for a, b in zip(timesteps, timesteps[1:]))


def test_pipeline_calls_the_unet_once_per_requested_step(pipe):
    calls = []
    handle = pipe.model.unet.register_forward_pre_hook(lambda module, args, kwargs: calls.append(1),
                                                       with_kwargs=True)
    try:
        pipe(random_slices(1), num_inference_steps=61, seed=0)
    finally:
        handle.remove()
    assert len(calls) == 61


@pytest.mark.parametrize("steps", [0, 1001])
def test_steps_outside_the_training_timesteps_are_an_input_error_with_the_limit(pipe, steps):
    with pytest.raises(InputError, match=rf"num_inference_steps={steps} must be in 1\.\.1000"):
        pipe(random_slices(1), num_inference_steps=steps)


def test_out_of_memory_retry_runs_after_the_failed_attempt_is_released():
    """The smaller batches must not run while the failed batch's tensors are still referenced.

    Retrying inside the ``except`` block keeps the traceback, and with it every activation of the
    failed attempt, alive (PyTorch FAQ: "recover outside the except clause"), so on a GPU the
    halves could run out of memory too and the back-off would fail down to one slice.
    """
    pipe = SDSegPipeline(tiny_model(seed=1), tiny_card(), device="cpu")
    failed: list = []
    alive_during_retry: list = []

    def decoder_hook(module, args):
        latent = args[0]
        if latent.shape[0] > 2:
            failed.append(weakref.ref(latent))
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if failed:
            gc.collect()
            alive_during_retry.append(failed[-1]() is not None)

    x = random_slices(4)
    expected = pipe(x, seed=3).probabilities
    handle = pipe.model.autoencoder.decoder.register_forward_pre_hook(decoder_hook)
    try:
        out = pipe(x, seed=3)
    finally:
        handle.remove()
    assert failed and alive_during_retry, "the back-off path did not run"
    assert not any(alive_during_retry)
    assert torch.allclose(out.probabilities, expected, atol=1e-5)
    assert pipe._batch_limit == 2


def test_out_of_memory_for_one_slice_is_a_resource_error_with_its_remedy():
    """Exit code 7 (resource), as documented for out of memory, not 3 (an unreadable input)."""
    from SDSegLogic.cli import EXIT_RESOURCE, describe_error, exit_code_for

    pipe = SDSegPipeline(tiny_model(seed=1), tiny_card(), device="cpu")

    def always_out_of_memory(module, args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    handle = pipe.model.autoencoder.decoder.register_forward_pre_hook(always_out_of_memory)
    try:
        with pytest.raises(torch.cuda.OutOfMemoryError) as caught:
            pipe(random_slices(3), seed=0)
    finally:
        handle.remove()
    assert exit_code_for(caught.value) == EXIT_RESOURCE
    message = describe_error(caught.value)
    assert "even for a single 32x32 slice" in message and "--device cpu" in message
    assert "smaller --batch-size" not in message  # the batch is already one slice
