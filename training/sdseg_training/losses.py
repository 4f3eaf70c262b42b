"""The SDSeg stage-2 objective: noise L1 plus latent-estimation L1 (Lin et al., MICCAI 2024)."""

from __future__ import annotations

from typing import Dict, Optional

import torch

__all__ = ["sdseg_loss"]


def sdseg_loss(
    denoiser,
    schedule,
    z0: torch.Tensor,
    image: torch.Tensor,
    class_labels: Optional[torch.Tensor],
    generator: torch.Generator,
    lambda_latent: float = 1.0,
    high_t_fraction: float = 0.0,
    high_t_window: int = 100,
) -> Dict[str, torch.Tensor]:
    """loss = L1(eps_hat, eps) + lambda * L1(z0_hat, z0).

    Args:
        denoiser: callable (image, z_t, t, class_labels) -> eps_hat; runs tau_theta and the UNet.
        schedule: ``SDSegLogic.schedulers.NoiseSchedule``.
        z0: scaled mask latents s * AE.encode(mask3).sample(), float32 (B, 4, h, w).
        image: (B, 3, H, W) in [-1, 1].
        class_labels: (B,) int64 or None (binary model).
        generator: CPU generator for t ~ U{0..T-1} and eps ~ N(0, I) (seeded per step: exact resume).
        lambda_latent: weight of the latent term (1 in the paper; 0 = plain epsilon loss).
        high_t_fraction: share of the batch whose t is drawn from the last ``high_t_window``
            timesteps instead of U{0..T-1} (0 = the paper). A short-budget option: single-step
            inference only ever uses t = T - 1.

    Returns:
        dict with ``loss``, ``loss_eps``, ``loss_z0`` (float32 scalars).
    """
    batch = z0.shape[0]
    T = schedule.num_train_timesteps
    t = torch.randint(0, T, (batch,), generator=generator)
    if high_t_fraction > 0:
        high = torch.randint(T - high_t_window, T, (batch,), generator=generator)
        t = torch.where(torch.rand(batch, generator=generator) < high_t_fraction, high, t)
    t = t.to(z0.device)
    noise = torch.randn(z0.shape, generator=generator, dtype=torch.float32).to(z0.device)
    z_t = schedule.add_noise(z0, noise, t)
    eps_hat = denoiser(image, z_t, t, class_labels).float()
    loss_eps = (eps_hat - noise).abs().mean()
    z0_hat = schedule.predict_original(z_t, eps_hat, t)  # float32: the x38.7 amplification near t = T
    loss_z0 = (z0_hat - z0).abs().mean()
    return {"loss": loss_eps + float(lambda_latent) * loss_z0, "loss_eps": loss_eps, "loss_z0": loss_z0}
