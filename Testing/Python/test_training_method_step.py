"""The stage-2 step against the method, recomputed independently: t, q(z_t|z_0), z0-hat, the loss and the LR."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.seeds import step_generator  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402


def _abar() -> np.ndarray:
    """abar_t of the spec: betas = linspace(sqrt(0.0015), sqrt(0.0155), 1000) ** 2."""
    betas = np.linspace(0.0015**0.5, 0.0155**0.5, 1000, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


def test_abar_999_of_the_schedule_is_the_spec_value():
    assert _abar()[999] == pytest.approx(6.687e-4, rel=1e-3)


@pytest.mark.parametrize("lam", [1.0, 0.5])
def test_train_step_loss_is_l1_eps_plus_lambda_l1_z0(tmp_path, lam):
    cfg = load_config(None, [
        "model.preset=tiny", "model.autoencoder=random", "model.condition_encoder_init=null", "model.dropout=0.0",
        "data.kind=phantom2d", "data.size=32", "data.phantom_cases=8", f"train.output_dir={tmp_path}",
        "train.batch_size=2", "train.grad_accum=2", f"train.lambda_latent={lam}", "optim.warmup_steps=10",
    ])
    tr = Stage2Trainer(cfg, resume="none")
    it = tr.batches()
    tr._set_scale_factor(next(tr.batches()))
    micro = [next(it) for _ in range(2)]
    denoiser = copy.deepcopy(tr.denoiser).eval()  # the weights before the step
    abar = torch.from_numpy(_abar())
    expected = []
    with torch.no_grad():
        for m, batch in enumerate(micro):
            gen = step_generator(cfg.train.seed, 0, 0, m)  # draw order: posterior sample, t, eps
            dist = tr.model.autoencoder.encode(batch["mask"]).latent_dist
            z0 = tr.scale_factor * (dist.mean + dist.std * torch.randn(dist.mean.shape, generator=gen))
            t = torch.randint(0, 1000, (2,), generator=gen)
            eps = torch.randn(z0.shape, generator=gen)
            a = abar[t].float().view(-1, 1, 1, 1)
            zt = a.sqrt() * z0 + (1 - a).sqrt() * eps
            eps_hat = denoiser.unet(torch.cat([zt, denoiser.condition_encoder(batch["image"])], 1), t).sample
            z0_hat = (1 / a).sqrt() * zt - (1 / a - 1).sqrt() * eps_hat
            expected.append((eps_hat - eps).abs().mean() + lam * (z0_hat - z0).abs().mean())
    out = tr.train_step(micro)
    assert out["loss"] == pytest.approx(float(sum(expected) / 2), rel=1e-4)
    assert out["lr"] == pytest.approx(1e-5 * 4 * 1e-6)  # step 0 of the warm-up, global batch 2 x 2
    assert tr.ema.num_updates == 1 and tr.step == 1  # one EMA update per optimizer step, not per micro-batch
