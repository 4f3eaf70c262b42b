"""Stage 1: a KL autoencoder trained on binary masks, then frozen for stage 2.

Each training item is one binary mask (the union of all foreground, or one class) repeated to 3
channels in {-1, +1}, randomly flipped (and cropped if ``autoencoder.crop`` > 0). The loss suits
binary targets::

    x = D(z), z ~ E(mask3)
    loss = L1(x, mask3) + dice_weight * (1 - softDice(p, m)) + kl_weight * KL(q(z|mask) || N(0, I)) / B
    p = clamp((x + 1) / 2, 0, 1).mean(channels)           (the engine's soft map)

Held-out quality = reconstruction Dice of ``p > 0.5`` (posterior mode) against each validation
mask, with the empty-mask convention of :mod:`.metrics`. Output: ``autoencoder.safetensors``
(the diffusers ``AutoencoderKL`` state dict) and ``autoencoder.json`` (architecture, metrics).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch

from .data import SliceSet, load_data
from .data.slices import binary_target
from .data.splits import write_json_atomic
from .metrics import dice_iou
from .modeling import AE_META, AE_WEIGHTS, build_model_config, save_safetensors_atomic

__all__ = ["mask_pool", "autoencoder_loss", "reconstruction_dice", "train_autoencoder"]


def mask_pool(slices: SliceSet, multiclass: bool) -> List[Tuple[int, int]]:
    """(slice index, class index) of every mask to learn: the union, plus each present class."""
    pool = []
    for i in range(len(slices)):
        pool.append((i, 0))
        if multiclass:
            pool.extend((i, int(c)) for c in np.unique(slices.labels[i]) if c > 0)
    return pool


def _masks(slices: SliceSet, items, rng: np.random.Generator, crop: int) -> torch.Tensor:
    out = []
    for idx, cls in items:
        m = binary_target(slices.labels[idx], cls).astype(np.float32) * 2 - 1
        if rng is not None:
            if rng.random() < 0.5:
                m = m[:, ::-1]
            if rng.random() < 0.5:
                m = m[::-1, :]
            if crop and crop < m.shape[0]:
                top, left = rng.integers(0, m.shape[0] - crop + 1, 2)
                m = m[top : top + crop, left : left + crop]
        out.append(np.repeat(np.ascontiguousarray(m)[None], 3, 0))
    return torch.from_numpy(np.stack(out))


def autoencoder_loss(ae, mask3: torch.Tensor, generator: torch.Generator, kl_weight: float, dice_weight: float) -> Dict[str, torch.Tensor]:
    """Stage-1 loss of a batch of masks (B, 3, H, W) in {-1, +1}; returns the terms and ``loss``."""
    posterior = ae.encode(mask3).latent_dist
    z = posterior.sample(generator=generator)
    x = ae.decode(z).sample.float()
    l1 = (x - mask3).abs().mean()
    p = ((x + 1) / 2).clamp(0, 1).mean(1)
    m = (mask3[:, 0] > 0).float()
    inter = (p * m).sum((1, 2))
    soft_dice = (2 * inter + 1.0) / (p.sum((1, 2)) + m.sum((1, 2)) + 1.0)
    dice_loss = 1 - soft_dice.mean()
    kl = posterior.kl().mean()
    return {"loss": l1 + dice_weight * dice_loss + kl_weight * kl, "l1": l1, "dice_loss": dice_loss, "kl": kl}


@torch.no_grad()
def reconstruction_dice(ae, slices: SliceSet, multiclass: bool, batch_size: int = 16) -> Dict[str, float]:
    """Dice of the posterior-mode reconstruction of every held-out mask (see module docstring)."""
    was_training = ae.training
    ae.eval()
    pool = mask_pool(slices, multiclass)
    scores = []
    for start in range(0, len(pool), batch_size):
        mask3 = _masks(slices, pool[start : start + batch_size], None, 0)
        x = ae.decode(ae.encode(mask3).latent_dist.mode()).sample
        pred = ((x + 1) / 2).clamp(0, 1).mean(1) > 0.5
        d, _ = dice_iou(pred, mask3[:, 0] > 0)
        scores.extend(d.tolist())
    ae.train(was_training)
    arr = np.asarray(scores)
    nonempty = np.asarray([slices.labels[i].any() if c == 0 else True for i, c in pool])
    return {"dice_mean": float(arr.mean()), "dice_min": float(arr.min()), "dice_nonempty_mean": float(arr[nonempty].mean()) if nonempty.any() else float("nan"), "num_masks": len(arr)}


def train_autoencoder(cfg, log=print) -> Dict[str, float]:
    """Run stage 1 for a :class:`~sdseg_training.config.TrainConfig`; returns the final held-out metrics."""
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from SDSegLogic.models.autoencoder_kl import build_autoencoder

    ae_cfg = cfg.autoencoder
    out = Path(ae_cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.train.num_threads:
        torch.set_num_threads(int(cfg.train.num_threads))
    torch.manual_seed(cfg.train.seed)
    _, split, sets = load_data(cfg.data, out)
    train, val = sets["train"], sets.get("val", sets["train"])
    config = build_model_config(cfg.model, cfg.data)
    ae = build_autoencoder(config)
    previous_steps = 0
    if ae_cfg.init:
        from safetensors.torch import load_file

        from SDSegLogic.model_folder import load_state_dict_checked

        from .modeling import read_autoencoder_meta

        init = Path(ae_cfg.init)
        load_state_dict_checked(ae, load_file(str(init / AE_WEIGHTS if init.is_dir() else init)), str(init))
        previous_steps = int(read_autoencoder_meta(init if init.is_dir() else init.parent).get("steps_total", read_autoencoder_meta(init if init.is_dir() else init.parent).get("steps", 0)))
        log(f"warm start from {init} ({previous_steps} earlier steps)")
    ae.train()
    opt = torch.optim.AdamW(ae.parameters(), lr=ae_cfg.lr, betas=(0.5, 0.9), weight_decay=0.0)
    pool = mask_pool(train, cfg.data.multiclass)
    rng = np.random.default_rng(cfg.train.seed)
    gen = torch.Generator().manual_seed(cfg.train.seed)
    writer = SummaryWriter(str(out / "tb"))
    metrics: Dict[str, float] = {}
    t0 = time.time()
    bar = tqdm(range(1, ae_cfg.max_steps + 1), desc="stage 1 (autoencoder)", dynamic_ncols=True)
    step = 0
    for step in bar:
        items = [pool[i] for i in rng.integers(0, len(pool), ae_cfg.batch_size)]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.train.mixed_precision == "bf16"):
            terms = autoencoder_loss(ae, _masks(train, items, rng, ae_cfg.crop), gen, ae_cfg.kl_weight, ae_cfg.dice_weight)
        terms = {k: v.float() for k, v in terms.items()}
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{terms['loss'].item():.4f}", dice_loss=f"{terms['dice_loss'].item():.4f}")
            for k, v in terms.items():
                writer.add_scalar(f"stage1/{k}", float(v.detach()), step)
        if step % ae_cfg.val_every == 0 or step == ae_cfg.max_steps:
            metrics = reconstruction_dice(ae, val, cfg.data.multiclass)
            for k, v in metrics.items():
                writer.add_scalar(f"stage1_val/{k}", float(v), step)
            log(f"step {step}: held-out reconstruction Dice mean {metrics['dice_mean']:.4f} min {metrics['dice_min']:.4f} ({time.time() - t0:.0f} s)")
            _save(out, ae, config, cfg, metrics, step, split, time.time() - t0, previous_steps)
            if ae_cfg.target_dice and metrics["dice_mean"] >= ae_cfg.target_dice:
                log(f"reached target Dice {ae_cfg.target_dice}; stopping at step {step}.")
                break
    writer.close()
    return metrics


def _save(out: Path, ae, config, cfg, metrics, step: int, split, seconds: float, previous_steps: int = 0) -> None:
    save_safetensors_atomic(ae.state_dict(), out / AE_WEIGHTS, metadata={"format": "pt", "component": "autoencoder"})
    write_json_atomic(out / AE_META, {
        "format": "sdseg-stage1-autoencoder", "version": 1, "preset": cfg.model.preset,
        "autoencoder": config.to_dict()["autoencoder"], "sample_size": config.sample_size,
        "steps": step, "steps_total": previous_steps + step, "warm_start": cfg.autoencoder.init, "seconds": round(seconds, 1), "batch_size": cfg.autoencoder.batch_size,
        "crop": cfg.autoencoder.crop, "lr": cfg.autoencoder.lr, "kl_weight": cfg.autoencoder.kl_weight,
        "heldout_reconstruction": metrics, "data_kind": cfg.data.kind, "split_sizes": {k: len(v) for k, v in split.items()},
    })
