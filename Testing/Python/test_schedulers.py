"""Noise schedule and samplers against the spec's numbers and diffusers' DDIMScheduler."""

from __future__ import annotations

import pytest
import torch

from SDSegLogic.config import ScheduleConfig
from SDSegLogic.schedulers import DDIMSampler, NoiseSchedule, SingleStepSampler, make_sampler


def test_single_step_coefficients_match_the_spec():
    sched = NoiseSchedule()
    abar = float(sched.alphas_cumprod[999])
    assert abar == pytest.approx(6.68665e-4, rel=1e-5)
    assert (1 / abar) ** 0.5 == pytest.approx(38.67191, abs=1e-4)
    assert (1 / abar - 1) ** 0.5 == pytest.approx(38.65898, abs=1e-4)


def test_schedule_equals_diffusers_scaled_linear_not_linear():
    from diffusers import DDIMScheduler

    ours = NoiseSchedule().alphas_cumprod
    scaled = DDIMScheduler(beta_start=0.0015, beta_end=0.0155, beta_schedule="scaled_linear").alphas_cumprod.double()
    linear = DDIMScheduler(beta_start=0.0015, beta_end=0.0155, beta_schedule="linear").alphas_cumprod.double()
    assert (ours - scaled).abs().max() < 1e-6
    assert (ours - linear).abs().max() > 1e-2


def test_single_step_sampler_is_latent_estimation_at_t999():
    sched = NoiseSchedule()
    sampler = SingleStepSampler(sched)
    assert sampler.timesteps == [999]
    z_t, eps = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    out = sampler.step(eps, 999, z_t)
    expected = 38.6719122704045 * z_t - 38.65898082787313 * eps
    assert torch.allclose(out.prev_sample, expected, atol=1e-4)
    assert torch.equal(out.prev_sample, out.pred_original_sample)


@pytest.mark.parametrize("steps", [1, 10, 50])
def test_ddim_matches_diffusers_ddim_with_trailing_spacing(steps):
    from diffusers import DDIMScheduler

    ref = DDIMScheduler(
        beta_start=0.0015, beta_end=0.0155, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=True, timestep_spacing="trailing", prediction_type="epsilon",
    )
    ref.set_timesteps(steps)
    ours = DDIMSampler(NoiseSchedule(), steps)
    assert ours.timesteps == [int(t) for t in ref.timesteps]
    gen = torch.Generator().manual_seed(0)
    sample_ours = sample_ref = torch.randn(1, 4, 8, 8, generator=gen, dtype=torch.float64).float()
    for t in ours.timesteps:
        eps = torch.randn(1, 4, 8, 8, generator=gen)
        sample_ours = ours.step(eps, t, sample_ours).prev_sample
        sample_ref = ref.step(eps, t, sample_ref).prev_sample
    assert torch.allclose(sample_ours, sample_ref, rtol=1e-4, atol=1e-3)


def test_ddim_with_eta_uses_the_generator_reproducibly():
    sampler = DDIMSampler(NoiseSchedule(), 5, eta=1.0)
    z, eps = torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 4)
    t = sampler.timesteps[0]
    a = sampler.step(eps, t, z, generator=torch.Generator().manual_seed(3)).prev_sample
    b = sampler.step(eps, t, z, generator=torch.Generator().manual_seed(3)).prev_sample
    c = sampler.step(eps, t, z, generator=torch.Generator().manual_seed(4)).prev_sample
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_add_noise_and_predict_original_are_inverse():
    sched = NoiseSchedule()
    z0, eps = torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 8)
    t = torch.tensor([0, 500, 999])
    z_t = sched.add_noise(z0, eps, t)
    assert torch.allclose(sched.predict_original(z_t, eps, t), z0, atol=1e-3)


def test_invalid_sampler_arguments():
    with pytest.raises(ValueError, match="num_inference_steps"):
        make_sampler(NoiseSchedule(), 0)
    with pytest.raises(ValueError, match="eta"):
        make_sampler(NoiseSchedule(), 5, eta=-1)
    with pytest.raises(ValueError, match="beta_schedule"):
        NoiseSchedule(ScheduleConfig(beta_schedule="cosine"))
