"""Inference: the single step equals the spec's formula; DDIM, N samples, multi-class, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from SDSegLogic.errors import InputError, ModelCardError
from SDSegLogic.pipeline import SDSegPipeline

from engine_test_helpers import random_slices, tiny_card, tiny_model


@pytest.fixture(scope="module")
def pipe():
    return SDSegPipeline(tiny_model(), tiny_card(), device="cpu")


@pytest.fixture(scope="module")
def multiclass_pipe():
    return SDSegPipeline(tiny_model(num_classes=3), tiny_card(num_classes=3), device="cpu")


def _noise(seed: int, shape=(1, 4, 16, 16)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_output_shapes_and_dtypes(pipe):
    out = pipe(random_slices(3))
    assert out.probabilities.shape == (3, 32, 32) and out.probabilities.dtype == torch.float32
    assert out.labels.shape == (3, 32, 32) and out.labels.dtype == torch.int64
    assert out.variance is None
    assert 0.0 <= float(out.probabilities.min()) and float(out.probabilities.max()) <= 1.0
    assert set(out.labels.unique().tolist()) <= {0, 1}
    assert torch.equal(out.labels, (out.probabilities > 0.5).long())


def test_single_step_equals_the_spec_formula_on_the_same_components(pipe):
    """p = clamp((D((38.672 zT - 38.659 eps)/s) + 1)/2, 0, 1).mean(c), computed by hand."""
    x = random_slices(2)
    model = pipe.model
    z_t = _noise(7).expand(2, -1, -1, -1)
    with torch.no_grad():
        cond = model.condition_encoder(x)
        eps = model.unet(torch.cat([z_t, cond], 1), torch.full((2,), 999)).sample
        abar = np.prod(1 - np.linspace(math.sqrt(0.0015), math.sqrt(0.0155), 1000) ** 2)
        z0 = math.sqrt(1 / abar) * z_t - math.sqrt(1 / abar - 1) * eps
        decoded = model.autoencoder.decode(z0 / model.config.scale_factor).sample
        expected = ((decoded + 1) / 2).clamp(0, 1).mean(1)
    out = pipe(x, seed=7)
    assert torch.allclose(out.probabilities, expected, atol=1e-5)


def test_seeded_runs_are_reproducible_and_seeds_matter(pipe):
    x = random_slices(2)
    a, b, c = pipe(x, seed=3), pipe(x, seed=3), pipe(x, seed=4)
    assert torch.equal(a.probabilities, b.probabilities)
    assert not torch.equal(a.probabilities, c.probabilities)
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(pipe(x, generator=g1).probabilities, pipe(x, generator=g2).probabilities)


def test_result_of_a_slice_does_not_depend_on_its_batch(pipe):
    x = random_slices(4)
    whole = pipe(x, seed=5).probabilities
    parts = torch.cat([pipe(x[:1], seed=5).probabilities, pipe(x[1:], seed=5).probabilities])
    assert torch.allclose(whole, parts, atol=1e-5)


def test_batch_splitting_after_out_of_memory_replays_the_same_noise(pipe):
    """The back-off path (taken on CUDA OOM) splits batches; results must not change."""
    x = random_slices(5)
    whole = pipe(x, num_inference_steps=3, eta=1.0, num_samples=2, seed=8)
    pipe._batch_limit = 2
    try:
        split = pipe(x, num_inference_steps=3, eta=1.0, num_samples=2, seed=8)
    finally:
        pipe._batch_limit = None
    assert torch.allclose(whole.probabilities, split.probabilities, atol=1e-5)
    assert torch.allclose(whole.variance, split.variance, atol=1e-5)


def test_ddim_one_step_is_the_single_step_and_more_steps_differ(pipe):
    x = random_slices(2)
    single = pipe(x, seed=1)
    ddim1 = pipe(x, num_inference_steps=1, eta=0.0, seed=1)
    ddim10 = pipe(x, num_inference_steps=10, seed=1)
    assert torch.equal(single.probabilities, ddim1.probabilities)
    assert ddim10.probabilities.shape == single.probabilities.shape
    assert not torch.allclose(ddim10.probabilities, single.probabilities)
    stochastic = pipe(x, num_inference_steps=5, eta=1.0, seed=1)
    assert torch.equal(stochastic.probabilities, pipe(x, num_inference_steps=5, eta=1.0, seed=1).probabilities)


def test_n_samples_give_mean_and_variance_of_independent_draws(pipe):
    x = random_slices(2)
    out = pipe(x, num_samples=3, seed=11)
    gen = torch.Generator().manual_seed(11)
    maps = []
    for _ in range(3):
        maps.append(pipe(x, generator=gen).probabilities)  # draws the same noise sequence
    maps = torch.stack(maps)
    assert out.variance is not None and out.variance.shape == (2, 32, 32)
    assert torch.allclose(out.probabilities, maps.mean(0), atol=1e-6)
    assert torch.allclose(out.variance, maps.var(0, unbiased=False), atol=1e-6)
    assert float(out.variance.max()) > 0


def test_multiclass_negates_class_zero_then_softmax_and_argmax(multiclass_pipe):
    x = random_slices(2)
    model = multiclass_pipe.model
    z_t = _noise(2)
    soft = []
    with torch.no_grad():
        cond = model.encode_condition(x)
        for k in range(3):
            labels = torch.full((2,), k)
            eps = model.predict_noise(z_t.expand(2, -1, -1, -1), cond, torch.full((2,), 999), labels)
            z0 = multiclass_pipe.schedule.predict_original(z_t.expand(2, -1, -1, -1), eps, torch.full((2,), 999))
            soft.append(model.decode_latent(z0).mean(1))  # raw channel mean, no clamp
    soft = torch.stack(soft, 1)
    soft[:, 0] = -soft[:, 0]
    expected = torch.softmax(soft, 1)
    out = multiclass_pipe(x, seed=2)
    assert out.probabilities.shape == (2, 3, 32, 32)
    assert torch.allclose(out.probabilities, expected, atol=1e-5)
    assert torch.equal(out.labels, expected.argmax(1))


def test_predict_probabilities_adds_a_class_axis(pipe, multiclass_pipe):
    x = random_slices(2).numpy()
    probs, var = pipe.predict_probabilities(x, num_samples=2)
    assert probs.shape == (2, 1, 32, 32) and var.shape == (2, 1, 32, 32)
    probs, var = multiclass_pipe.predict_probabilities(x)
    assert probs.shape == (2, 3, 32, 32) and var is None
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "images, message",
    [
        (torch.zeros(2, 1, 32, 32), "1 channels"),
        (torch.zeros(3, 32, 32), r"\(B, 3, H, W\)"),
        (torch.zeros(1, 3, 30, 32), "multiple of 4"),
        (torch.full((1, 3, 32, 32), float("nan")), "NaN"),
        (torch.full((1, 3, 32, 32), 200.0), "intensity"),
        (torch.zeros(1, 3, 32, 32, dtype=torch.int16), "floating point"),
    ],
)
def test_bad_inputs_raise_input_error_with_a_remedy(pipe, images, message):
    with pytest.raises(InputError, match=message):
        pipe(images)


def test_card_and_network_class_counts_must_agree():
    with pytest.raises(ModelCardError, match="network classes"):
        SDSegPipeline(tiny_model(), tiny_card(num_classes=3), device="cpu")


def test_unavailable_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(InputError, match="CUDA is not available"):
        SDSegPipeline(tiny_model(), tiny_card(), device="cuda")


def test_unet_can_keep_fp32_while_encoder_and_decoder_run_in_bf16():
    model = tiny_model()
    reference = SDSegPipeline(tiny_model(), tiny_card(), device="cpu")(random_slices(2), seed=0).probabilities
    mixed = SDSegPipeline(model, tiny_card(), device="cpu", dtype="bf16", unet_dtype="fp32")
    assert next(mixed.model.unet.parameters()).dtype == torch.float32
    assert next(mixed.model.autoencoder.parameters()).dtype == torch.bfloat16
    assert next(mixed.model.condition_encoder.parameters()).dtype == torch.bfloat16
    out = mixed(random_slices(2), seed=0).probabilities
    assert out.dtype == torch.float32
    assert float((out - reference).abs().max()) < 0.1


def test_suggested_batch_size_keeps_about_twelve_decoded_images_per_cpu_call(pipe, multiclass_pipe):
    assert pipe.suggested_batch_size() == 12
    assert multiclass_pipe.suggested_batch_size() == 4


def test_default_precisions_are_the_faithful_ones():
    """CUDA default: fp16 encoder/decoder with an fp32 UNet (measured faithful on trained weights);
    the CPU stays fp32; an explicit dtype covers the whole network unless the UNet has its own."""
    from SDSegLogic.device import default_dtype, default_unet_dtype

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert default_dtype(cuda) == torch.float16 and default_unet_dtype(cuda) == torch.float32
    assert default_dtype(cpu) == torch.float32 and default_unet_dtype(cpu) is None
    auto = SDSegPipeline(tiny_model(), tiny_card(), device="cpu")
    assert auto.dtype == auto.unet_dtype == torch.float32 and auto.channels_last is False
    explicit = SDSegPipeline(tiny_model(), tiny_card(), device="cpu", dtype="bf16")
    assert explicit.unet_dtype == torch.bfloat16
    split = SDSegPipeline(tiny_model(), tiny_card(), device="cpu", dtype="bf16", unet_dtype="fp32")
    assert split.model.unet.dtype == torch.float32 and split.model.condition_encoder.out.weight.dtype == torch.bfloat16


def test_fp32_unet_runs_without_tensorfloat32_and_flags_are_restored():
    """TF32 (on by default for cuDNN convolutions) would round the fp32 UNet like fp16; it is off while
    the UNet runs and restored after. The flags exist on CPU builds, so this runs anywhere."""
    from SDSegLogic.device import exact_fp32

    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        with exact_fp32(True):
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        with exact_fp32(False):
            assert torch.backends.cudnn.allow_tf32
        with pytest.raises(RuntimeError):
            with exact_fp32(True):
                raise RuntimeError("a failing UNet call")
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
