"""Noise schedule and samplers: SDSeg's single-step latent estimation and DDIM.

The schedule is LDM's ``linear`` schedule, which is diffusers' ``scaled_linear``:
``beta_t = linspace(sqrt(0.0015), sqrt(0.0155), T) ** 2``, computed in float64 so that the
single-step coefficients sqrt(1/abar_999) = 38.67191 and sqrt(1/abar_999 - 1) = 38.65898 are
exact. Every latent update runs in float32 whatever the network dtype: the single step
amplifies the UNet's error about 39x.

Samplers follow the diffusers scheduler shape (``timesteps``, ``step(...) -> StepOutput``) so
that one loop in the pipeline drives both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import torch

from .config import ScheduleConfig
from .json_values import is_finite_number, is_integer

__all__ = ["NoiseSchedule", "StepOutput", "SingleStepSampler", "DDIMSampler", "make_sampler"]


class NoiseSchedule:
    """The forward-process schedule (float64 on the CPU).

    Args:
        config: schedule configuration.

    Attributes:
        betas, alphas_cumprod: (T,) float64 tensors.
    """

    def __init__(self, config: ScheduleConfig = ScheduleConfig()) -> None:
        if config.beta_schedule == "scaled_linear":
            betas = torch.linspace(config.beta_start**0.5, config.beta_end**0.5, config.num_train_timesteps, dtype=torch.float64) ** 2
        elif config.beta_schedule == "linear":
            betas = torch.linspace(config.beta_start, config.beta_end, config.num_train_timesteps, dtype=torch.float64)
        else:
            raise ValueError(f"beta_schedule {config.beta_schedule!r} is not supported; use 'scaled_linear'.")
        self.config = config
        self.num_train_timesteps = config.num_train_timesteps
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)

    def alpha_bar(self, t: int) -> float:
        """abar_t as a Python float (1.0 for t < 0, the clean end of the chain)."""
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def add_noise(self, z0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps, per sample. timesteps: (B,) int."""
        abar = self.alphas_cumprod.to(z0.device)[timesteps.long()].float().view(-1, 1, 1, 1)
        return abar.sqrt() * z0 + (1.0 - abar).sqrt() * noise

    def predict_original(self, z_t: torch.Tensor, eps: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Latent estimation z0-hat = sqrt(1/abar_t) z_t - sqrt(1/abar_t - 1) eps, per sample (float32)."""
        abar = self.alphas_cumprod.to(z_t.device)[timesteps.long()]
        c0 = (1.0 / abar).sqrt().float().view(-1, 1, 1, 1)
        c1 = (1.0 / abar - 1.0).sqrt().float().view(-1, 1, 1, 1)
        return c0 * z_t.float() - c1 * eps.float()


@dataclass
class StepOutput:
    """Result of one sampler step.

    Attributes:
        prev_sample: latent at the next (less noisy) timestep, float32 (B, 4, h, w).
        pred_original_sample: the current estimate of z0, float32 (B, 4, h, w).
    """

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


class DDIMSampler:
    """DDIM (Song et al. 2021) over "trailing" timesteps, so the first step is always t = T - 1.

    With ``num_inference_steps=1`` this is exactly SDSeg's single-step latent estimation.

    Args:
        schedule: the noise schedule.
        num_inference_steps: number of UNet evaluations S (1..T).
        eta: 0 for deterministic DDIM, 1 for DDPM-like ancestral noise.
    """

    def __init__(self, schedule: NoiseSchedule, num_inference_steps: int = 1, eta: float = 0.0) -> None:
        T = schedule.num_train_timesteps
        count = _check_steps(num_inference_steps, T)
        _check_eta(eta)
        self.schedule = schedule
        self.eta = float(eta)
        # arange(T, 0, -T / S) holds an (S+1)-th value ~1e-13 for some S (61, 103, ...): its
        # t = -1 would index abar_999 from the end and run one more UNet call. Keep the first S.
        ratio = T / count
        steps = (torch.round(torch.arange(T, 0, -ratio, dtype=torch.float64)).long() - 1)[:count]
        self.timesteps: List[int] = [int(t) for t in steps]

    def previous_timestep(self, t: int) -> int:
        index = self.timesteps.index(t)
        return self.timesteps[index + 1] if index + 1 < len(self.timesteps) else -1

    def step(
        self,
        eps: torch.Tensor,
        t: int,
        sample: torch.Tensor,
        generator: Optional[torch.Generator] = None,
    ) -> StepOutput:
        """One DDIM update z_t -> z_prev, computed in float32.

        Args:
            eps: predicted noise (B, 4, h, w), any float dtype.
            t: current timestep (an element of ``timesteps``).
            sample: z_t (B, 4, h, w).
            generator: source of the ancestral noise when ``eta > 0``.
        """
        sched = self.schedule
        abar_t = sched.alphas_cumprod[t]
        abar_prev = torch.tensor(sched.alpha_bar(self.previous_timestep(t)), dtype=torch.float64)
        z_t = sample.float()
        eps = eps.float()
        c0 = float((1.0 / abar_t).sqrt())
        c1 = float((1.0 / abar_t - 1.0).sqrt())
        z0 = c0 * z_t - c1 * eps
        if abar_prev >= 1.0:
            return StepOutput(prev_sample=z0, pred_original_sample=z0)
        variance = (1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)
        sigma = self.eta * float(variance.sqrt())
        direction = float((1 - abar_prev - sigma**2).clamp_min(0).sqrt())
        prev = float(abar_prev.sqrt()) * z0 + direction * eps
        if sigma > 0:
            # One draw shared by every slice of the batch (as the initial noise), so a slice's
            # result does not depend on the batch it was processed in.
            shape = (1,) + tuple(prev.shape[1:])
            noise = torch.randn(shape, generator=generator, dtype=torch.float32, device=_generator_device(generator))
            prev = prev + sigma * noise.to(prev.device)
        return StepOutput(prev_sample=prev, pred_original_sample=z0)


class SingleStepSampler(DDIMSampler):
    """SDSeg's reverse process: one UNet call at t = T - 1, then z0-hat directly (the paper's method)."""

    def __init__(self, schedule: NoiseSchedule) -> None:
        super().__init__(schedule, num_inference_steps=1, eta=0.0)


def make_sampler(schedule: NoiseSchedule, num_inference_steps: int = 1, eta: float = 0.0) -> DDIMSampler:
    """The single-step sampler for one step, DDIM otherwise (``eta`` is checked either way)."""
    count = _check_steps(num_inference_steps, schedule.num_train_timesteps)
    _check_eta(eta)
    if count == 1:
        return SingleStepSampler(schedule)
    return DDIMSampler(schedule, count, eta)


def _check_steps(num_inference_steps: object, num_train_timesteps: int) -> int:
    """The number of UNet evaluations as an ``int`` in 1..T, or a ``ValueError`` naming the value.

    ``int()`` alone turned 2.7 into 2 steps, 1.5 into the single step and ``True`` into 1: a whole
    number (an integral float such as 3.0 from JSON included) is required; bools and strings are refused.
    """
    whole = is_integer(num_inference_steps) or (
        isinstance(num_inference_steps, float) and num_inference_steps.is_integer())
    if not whole or not 1 <= int(num_inference_steps) <= num_train_timesteps:
        raise ValueError(f"num_inference_steps {num_inference_steps!r} must be a whole number in 1..{num_train_timesteps} "
                         "(1 = the paper's single step; more steps run DDIM).")
    return int(num_inference_steps)


def _check_eta(eta: float) -> None:
    """Refuse an eta that is negative or not a finite number (NaN passes ``eta < 0`` and gives NaN latents; a bool is
    not a number)."""
    if not (is_finite_number(eta) and eta >= 0):
        raise ValueError(f"eta must be a finite number >= 0 (0 = deterministic DDIM, 1 = DDPM-like), got {eta!r}")


def _generator_device(generator: Optional[torch.Generator]) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")
