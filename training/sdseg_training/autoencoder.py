"""Stage 1: a KL autoencoder trained on binary masks, then frozen for stage 2.

Each training item is one binary mask (the union of all foreground, or one class) repeated to 3
channels in {-1, +1}, randomly flipped (optionally also transposed, translated, cropped and cut
by thin seams, see ``autoencoder.rot90`` / ``max_shift`` / ``crop`` / ``thin_gap_probability``).
The masks of the training split are held on the training device once and augmented there. The
loss suits binary targets::

    x = D(z), z ~ E(mask3)
    loss = L1(x, mask3) + dice_weight * (1 - softDice(p, m)) + kl_weight * KL(q(z|mask) || N(0, I)) / B
    p = clamp((x + 1) / 2, 0, 1).mean(channels)           (the engine's soft map)

The soft Dice is computed per mask (then averaged over the batch), so a 30-pixel aorta counts as
much as a 2000-pixel lung: small structures are not drowned by the L1 term of large ones.

Held-out quality (:func:`reconstruction_dice`) = Dice of ``p > 0.5`` (decoded from the posterior
mode, fp32) against each mask of the validation split: **one Dice per mask**, i.e. per slice and
per network class (class 0 = union of the foreground; each foreground class only on the slices
where it is present), then the mean over all masks (``dice_mean``) and per class (``per_class``).
A split without validation cases is scored on its training masks instead, with a warning, and
recorded as ``train_reconstruction``, never as held out.
Empty-mask convention of :mod:`.metrics`: an empty union decoded as empty scores 1, any decoded
foreground on it 0. Output: ``autoencoder.safetensors`` (the diffusers ``AutoencoderKL`` state
dict) and ``autoencoder.json`` (architecture, metrics).
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch

from SDSegLogic.device import slow_cpu_bf16_note

from .data import SliceSet, load_data
from .divergence import DivergenceGuard
from .errors import TrainingConfigError, TrainingInterrupted
from .interrupt import DeferredInterrupt
from .metrics import dice_iou
from .modeling import AE_WEIGHTS, build_model_config
from .stage1_masks import augment_masks, carve_thin_gaps, mask_pool, pool_masks, seam_pixels
from .stage1_output import protect_stage1_output, save_stage1
from .stage1_resume import file_sha256, remove_resume_checkpoint, restore_stage1, resume_checkpoint, save_resume_checkpoint
from .stop_vote import budget_cuts_short
from .tb_log import open_summary_writer

__all__ = ["mask_pool", "augment_masks", "carve_thin_gaps", "autoencoder_loss", "reconstruction_dice", "ae_lr_at", "train_autoencoder"]


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
    kl = posterior.kl().float().mean()
    return {"loss": l1 + dice_weight * dice_loss + kl_weight * kl, "l1": l1, "dice_loss": dice_loss, "kl": kl}


def _device_of(module) -> torch.device:
    param = next(iter(module.parameters()), None) if isinstance(module, torch.nn.Module) else None
    return param.device if param is not None else torch.device("cpu")


@torch.no_grad()
def reconstruction_dice(ae, slices: SliceSet, multiclass: bool, batch_size: int = 16,
                        class_names: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Dice of the posterior-mode reconstruction of every held-out mask (see module docstring).

    Args:
        ae: the autoencoder (scored in fp32 on its own device, in eval mode).
        slices: the held-out slices.
        multiclass: also score each present class (else the union only).
        batch_size: masks per forward pass.
        class_names: foreground class names; when given, ``per_class`` keys use them
            (``union`` for class 0), else ``class_<c>``.

    Returns:
        ``dice_mean``, ``dice_min``, ``dice_nonempty_mean`` (masks with foreground only; None when no
        mask holds any, so that ``autoencoder.json`` and the model card stay standard JSON),
        ``num_masks``, ``per_class`` {name: {"dice_mean", "dice_min", "num_masks"}}, and
        ``seam_pixels`` / ``seam_pixels_filled``: one-pixel background seams of the targets
        (:func:`seam_pixels`) and how many of them the reconstruction fills with foreground.
    """
    was_training = ae.training
    ae.eval()
    device = _device_of(ae)
    pool = mask_pool(slices, multiclass)
    scores = []
    seams = filled = 0
    for start in range(0, len(pool), batch_size):
        mask3 = augment_masks(pool_masks(slices, pool[start : start + batch_size]).to(device), None)
        x = ae.decode(ae.encode(mask3).latent_dist.mode()).sample.float()
        pred = ((x + 1) / 2).clamp(0, 1).mean(1) > 0.5
        target = mask3[:, 0] > 0
        d, _ = dice_iou(pred.cpu(), target.cpu())
        scores.extend(d.tolist())
        seam = seam_pixels(target)
        seams += int(seam.sum())
        filled += int((seam & pred).sum())
    ae.train(was_training)
    arr = np.asarray(scores)
    nonempty = np.asarray([slices.labels[i].any() if c == 0 else True for i, c in pool])
    classes = np.asarray([c for _, c in pool])
    per_class = {}
    for c in sorted(set(classes.tolist())):
        name = "union" if c == 0 else (str(class_names[c - 1]) if class_names else f"class_{c}")
        sel = arr[classes == c]
        per_class[name] = {"dice_mean": float(sel.mean()), "dice_min": float(sel.min()), "num_masks": int(len(sel))}
    return {"dice_mean": float(arr.mean()), "dice_min": float(arr.min()),
            "dice_nonempty_mean": float(arr[nonempty].mean()) if nonempty.any() else None, "num_masks": len(arr),
            "per_class": per_class, "seam_pixels": seams, "seam_pixels_filled": filled}


def ae_lr_at(step: int, progress: float, ae_cfg) -> float:
    """Stage-1 lr of optimizer step ``step`` (0-based) at ``progress`` in [0, 1] of the run."""
    lr = float(ae_cfg.lr)
    if ae_cfg.lr_schedule == "cosine":
        floor = float(ae_cfg.lr_min_factor)
        lr *= floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, max(0.0, progress))))
    elif ae_cfg.lr_schedule != "constant":
        raise TrainingConfigError(f"autoencoder.lr_schedule={ae_cfg.lr_schedule!r}; choose 'constant' or 'cosine'.")
    if ae_cfg.warmup_steps and step < ae_cfg.warmup_steps:
        lr *= 0.1 + 0.9 * step / ae_cfg.warmup_steps
    return lr


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise TrainingConfigError(f"autoencoder.device={name!r}; choose 'auto', 'cuda' or 'cpu'.")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingConfigError(f"autoencoder.device={name!r} but CUDA is not available; use 'auto' or 'cpu'.")
    return torch.device(name)


def _autocast(device: torch.device, precision: str):
    """(autocast context factory, grad scaler or None) for ``precision`` on ``device``."""
    if precision not in ("no", "fp16", "bf16"):
        raise TrainingConfigError(f"mixed precision {precision!r}; choose 'no', 'fp16' or 'bf16'.")
    if device.type == "cuda" and precision in ("fp16", "bf16"):
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        return (lambda: torch.autocast("cuda", dtype=dtype)), scaler
    if device.type == "cpu" and precision == "bf16":
        return (lambda: torch.autocast("cpu", dtype=torch.bfloat16)), None
    return contextlib.nullcontext, None


def train_autoencoder(cfg, log=print, overwrite: bool = False) -> Dict[str, Any]:
    """Run stage 1 for a :class:`~sdseg_training.config.TrainConfig`.

    Refuses an ``autoencoder.output_dir`` that already holds a trained autoencoder unless
    ``overwrite`` (or a config key ``autoencoder.overwrite``) is true; the replaced weights are
    then kept (:func:`~sdseg_training.stage1_output.protect_stage1_output`). An output folder
    with the resume checkpoint of an interrupted run (:mod:`.stage1_resume`) continues that run
    exactly, unless ``overwrite`` starts over. Stops at ``autoencoder.max_steps``, at
    ``autoencoder.time_budget_s`` seconds of training (validating and saving as if the last step
    had been reached), or once the validation Dice reaches ``autoencoder.target_dice``. Ctrl-C
    finishes the step, writes the resume checkpoint and raises :class:`~.errors.TrainingInterrupted`.

    Returns:
        The held-out metrics of the saved weights (see :func:`reconstruction_dice`) plus
        ``step`` (of the saved weights), ``steps_run`` and ``stopped_by_time_budget``.
    """
    from tqdm import tqdm

    from SDSegLogic.models.autoencoder_kl import build_autoencoder

    ae_cfg = cfg.autoencoder
    out = Path(ae_cfg.output_dir)
    overwrite = overwrite or bool(getattr(ae_cfg, "overwrite", False))
    resuming = resume_checkpoint(out) is not None and not overwrite
    if cfg.train.num_threads:
        torch.set_num_threads(int(cfg.train.num_threads))
    device = _resolve_device(ae_cfg.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest convolutions
    precision = ae_cfg.mixed_precision or cfg.train.mixed_precision
    slow = slow_cpu_bf16_note(device, precision == "bf16", "set autoencoder.mixed_precision=no on this machine")
    if slow:
        warnings.warn(slow, stacklevel=2)
    autocast, scaler = _autocast(device, precision)
    ae_lr_at(0, 0.0, ae_cfg)  # validates lr_schedule before any work
    if not 0.0 <= float(ae_cfg.thin_gap_probability) <= 1.0:
        raise TrainingConfigError(f"autoencoder.thin_gap_probability={ae_cfg.thin_gap_probability!r} is not a "
                                  "probability; use a value in [0, 1] (0 turns the seams off).")
    torch.manual_seed(cfg.train.seed)
    # the model settings and the warm start are checked before anything is written into the output folder
    config = build_model_config(cfg.model, cfg.data)
    _check_crop(int(ae_cfg.crop), config.autoencoder.downsample_factor, int(cfg.data.size))
    ae = build_autoencoder(config)
    previous_steps = 0
    if ae_cfg.init and not resuming:
        previous_steps = _warm_start(ae, Path(ae_cfg.init), log)
    if not resuming:
        protect_stage1_output(out, overwrite, log)
        remove_resume_checkpoint(out)  # --overwrite starts an interrupted run over
    out.mkdir(parents=True, exist_ok=True)
    info, split, sets = load_data(cfg.data, out)
    cfg.data.image_resize = info.image_resize  # null -> the kind's mode, so that the records (resume checkpoint) name it
    train, val = sets["train"], sets.get("val")
    heldout = val is not None
    if not heldout:  # score on the training masks, but never call that held-out
        warnings.warn(_no_validation_message(cfg, split), stacklevel=2)
        val = train
    ae.to(device).train()
    opt = torch.optim.AdamW(ae.parameters(), lr=ae_cfg.lr, betas=(0.5, 0.9), weight_decay=0.0)
    pool = mask_pool(train, cfg.data.multiclass)
    train_masks = pool_masks(train, pool).to(device)
    rng = np.random.default_rng(int(cfg.train.seed) % (1 << 64))  # numpy refuses negative seeds; config allows them
    gen = torch.Generator().manual_seed(cfg.train.seed)
    loop: Dict[str, Any] = {"step": 0, "best": None, "saved": {}, "seconds": 0.0, "previous_steps": previous_steps}
    if resuming:
        loop = restore_stage1(out, ae, opt, gen, rng, scaler, cfg, config, info.class_names, log)
        previous_steps = loop["previous_steps"]
    writer = open_summary_writer(out / "tb")
    log(f"stage 1: {len(pool)} training masks, {len(val)} validation slices, device {device}, precision {precision}, "
        f"batch {ae_cfg.batch_size}, max {ae_cfg.max_steps} steps" + (f" or {ae_cfg.time_budget_s:.0f} s" if ae_cfg.time_budget_s else ""))
    names = info.class_names if cfg.data.multiclass else None
    metrics: Dict[str, Any] = {}
    saved: Dict[str, Any] = loop["saved"]
    best: Optional[float] = loop["best"]
    t0 = time.time() - loop["seconds"]  # an interrupted run's training time counts (time budget, cosine progress)
    step = loop["step"]
    bar = tqdm(range(step + 1, ae_cfg.max_steps + 1), total=ae_cfg.max_steps, initial=step, desc="stage 1 (autoencoder)",
               dynamic_ncols=True)
    out_of_time = False
    guard = DivergenceGuard(step, "stage 1")
    with DeferredInterrupt(log, "this step") as interrupt:
        for step in bar:
            elapsed = time.time() - t0
            progress = max((step - 1) / ae_cfg.max_steps, elapsed / ae_cfg.time_budget_s if ae_cfg.time_budget_s else 0.0)
            lr = ae_lr_at(step - 1, progress, ae_cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            idx = torch.from_numpy(rng.integers(0, len(pool), ae_cfg.batch_size)).to(device)
            mask3 = augment_masks(train_masks[idx], rng, ae_cfg.crop, ae_cfg.rot90, ae_cfg.max_shift,
                                  ae_cfg.thin_gap_probability)
            with autocast():
                terms = autoencoder_loss(ae, mask3, gen, ae_cfg.kl_weight, ae_cfg.dice_weight)
            terms = {k: v.float() for k, v in terms.items()}
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(terms["loss"]).backward()
                scaler.step(opt)
                scaler.update()
            else:
                terms["loss"].backward()
                opt.step()
            out_of_time = budget_cuts_short(step, ae_cfg.max_steps, time.time() - t0, ae_cfg.time_budget_s)
            final = step == ae_cfg.max_steps or out_of_time
            if step % 10 == 0 or final or step % ae_cfg.val_every == 0 or interrupt.requested:  # never save NaN weights
                kept = (f"{out} keeps the weights saved at step {saved['step']} (train again with --overwrite, or into "
                        f"a new autoencoder.output_dir with autoencoder.init={out})" if saved else "nothing was saved; train again")
                guard.check(ae, step, kept)
            if step % 10 == 0 or final:
                bar.set_postfix(loss=f"{terms['loss'].item():.4f}", dice_loss=f"{terms['dice_loss'].item():.4f}")
                for k, v in terms.items():
                    writer.add_scalar(f"stage1/{k}", float(v.detach()), step)
                writer.add_scalar("stage1/lr", lr, step)
            if step % ae_cfg.val_every == 0 or final:
                metrics = reconstruction_dice(ae, val, cfg.data.multiclass, class_names=names)
                for k, v in metrics.items():
                    if isinstance(v, (int, float)):
                        writer.add_scalar(f"stage1_val/{k}", float(v), step)
                improved = best is None or metrics["dice_mean"] >= best
                scored = "held-out" if heldout else "TRAINING-mask (no validation split)"
                log(f"step {step}: {scored} reconstruction Dice mean {metrics['dice_mean']:.4f} min {metrics['dice_min']:.4f} "
                    f"lr {lr:.2e} ({time.time() - t0:.0f} s)" + (" [saved]" if improved or not ae_cfg.keep_best else ""))
                if improved or not ae_cfg.keep_best:
                    best = metrics["dice_mean"] if best is None else max(best, metrics["dice_mean"])
                    saved = {**metrics, "step": step}
                    save_stage1(out, ae, config, cfg, metrics, step, split, time.time() - t0, previous_steps, heldout=heldout)
                if ae_cfg.target_dice and metrics["dice_mean"] >= ae_cfg.target_dice:
                    log(f"reached target Dice {ae_cfg.target_dice}; stopping at step {step}.")
                    break
            if interrupt.requested and not final:  # Ctrl-C: a resume checkpoint of this step, then stop
                bar.close()
                writer.close()
                folder = save_resume_checkpoint(out, ae, opt, gen, rng.bit_generator.state, scaler, {
                    "step": step, "best": best, "saved": saved, "seconds": time.time() - t0, "previous_steps": previous_steps,
                    "output_sha256": file_sha256(out / AE_WEIGHTS), "config": cfg.to_dict(), "model_config": config.to_dict(),
                    "class_names": list(info.class_names)})
                log(f"interrupted: stage 1 at step {step} saved in {folder}; run the same command again (without "
                    "--overwrite) to resume.")
                raise TrainingInterrupted(step, folder)
            if out_of_time:
                log(f"time budget of {ae_cfg.time_budget_s:.0f} s reached; stopping at step {step}.")
                break
    bar.close()
    writer.close()
    remove_resume_checkpoint(out)  # the run is complete: nothing to resume
    return {**saved, "scored_on": "val" if heldout else "train", "steps_run": step, "seconds": round(time.time() - t0, 1),
            "stopped_by_time_budget": out_of_time}


def _warm_start(ae, init: Path, log) -> Optional[int]:
    """Load ``autoencoder.init`` into ``ae``; returns its earlier steps (None: unknown).

    Raises:
        TrainingConfigError: ``init`` holds no stage-1 weights file.
    """
    from safetensors.torch import load_file

    from SDSegLogic.model_folder import load_state_dict_checked

    from .stage1_output import warm_start_steps

    weights = init / AE_WEIGHTS if init.is_dir() else init
    if not weights.is_file():
        raise TrainingConfigError(f"autoencoder.init={init}: {weights} does not exist; point autoencoder.init to an "
                                  f"earlier stage-1 output folder (with {AE_WEIGHTS}) or to such a file, or set it to null.")
    load_state_dict_checked(ae, load_file(str(weights)), str(init))
    previous_steps, stale = warm_start_steps(init)  # None: a record of other weights (not added up)
    if stale:
        warnings.warn(stale, stacklevel=2)
    log(f"warm start from {init} ({'unknown' if previous_steps is None else previous_steps} earlier steps)")
    return previous_steps


def _check_crop(crop: int, factor: int, size: int) -> None:
    """Refuse an ``autoencoder.crop`` that the autoencoder cannot reproduce (not a multiple of its downsampling).

    Raises:
        TrainingConfigError: naming the crop, the factor and the nearest crops that fit.
    """
    if not crop or crop >= size or crop % factor == 0:  # 0 or >= data.size: full slices (augment_masks)
        return
    lower, upper = max(factor, crop // factor * factor), (crop // factor + 1) * factor
    fits = f"{lower} or {upper}" if lower != upper and upper < size else str(lower)
    raise TrainingConfigError(f"autoencoder.crop={crop} is not a multiple of the autoencoder's downsampling ({factor}x), "
                              f"so its reconstruction would not match the crop; use autoencoder.crop={fits}, or 0 for "
                              "whole slices.")


def _no_validation_message(cfg, split) -> str:
    """Why stage 1's reconstruction Dice is not held out when the split has no validation cases."""
    return (f"the split has no validation cases (data.val_fraction={cfg.data.val_fraction}, {len(split['train'])} training "
            "case(s)), so stage 1 scores its reconstruction Dice on the training masks: not a held-out measure, and "
            "autoencoder.keep_best / target_dice then choose on training data. autoencoder.json records it as "
            "train_reconstruction, not heldout_reconstruction. For a held-out Dice add validation cases "
            "(data.val_fraction > 0, or a \"val\" list in the split file).")
