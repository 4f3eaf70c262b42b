"""Where the single step loses accuracy: the error budget of eps-hat at t = T - 1.

The single step computes ``z0_hat = c0 z_T - c1 eps_hat`` with c1 = sqrt(1/abar - 1) ~ 38.66 for
the SDSeg schedule, so every unit of error in the UNet's noise estimate becomes ~39 units of
error in the mask latent. This report measures that chain on a split of the training config,
one mask at a time (the union and every present class of every slice, as in
:func:`~.autoencoder.reconstruction_dice`):

* ``eps_l1``: mean |eps_hat - eps| with ``z_T = sqrt(abar) z0 + sqrt(1 - abar) eps`` built from the
  true mask latent z0 (posterior mode) and a seeded eps;
* ``z0_l1`` and ``z0_abs``: mean |z0_hat - z0| against the mean |z0| (the signal it must carry);
* ``lowpass_share``: RMS of the latent error after 4 x 4 average pooling divided by the RMS of the
  error. Spatially white error (noise the UNet failed to pass through exactly) gives ~0.25;
  error in the shape itself (wrong organ content) gives values near 1;
* ``dice``: Dice of the decoded ``z0_hat`` (p > 0.5) against the mask. This z_T carries the
  mask's own signal (2.6 %), so it is an upper bound of the single step from pure noise.

Run it on an exported model folder (the one a user gets) or on a stage-2 checkpoint folder::

    python -m sdseg_training.single_step_error CONFIG.yaml [overrides] --model DIR --json OUT.json
    python -m sdseg_training.single_step_error CONFIG.yaml [overrides] --checkpoint RUN/checkpoints/best --json OUT.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

__all__ = ["single_step_error", "main"]


@torch.no_grad()
def single_step_error(model, slices, multiclass: bool, class_names: Optional[Sequence[str]] = None,
                      seed: int = 0, batch_size: int = 16) -> Dict[str, Any]:
    """The eps-hat error budget of ``model`` on ``slices`` (see the module docstring).

    Args:
        model: an ``SDSegModel`` in eval mode (float32 on its device).
        slices: a :class:`~.data.slices.SliceSet` (images (N, C, S, S) in [-1, 1], labels (N, S, S)).
        multiclass: score every present class too (class labels go to the UNet), else the union.
        class_names: foreground class names for the ``per_class`` keys (``union`` for class 0).
        seed: seeds eps.
        batch_size: masks per forward pass.

    Returns:
        ``amplification`` (c1), ``timestep``, ``num_masks``, the means ``eps_l1``, ``z0_l1``,
        ``z0_abs``, ``lowpass_share``, ``dice`` over all masks, and ``per_class`` with the same means.
    """
    from SDSegLogic.schedulers import NoiseSchedule

    from .stage1_masks import augment_masks, mask_pool, pool_masks
    from .metrics import dice_iou

    device = next(model.unet.parameters()).device
    schedule = NoiseSchedule(model.config.schedule)
    t = schedule.num_train_timesteps - 1
    abar = schedule.alpha_bar(t)
    generator = torch.Generator().manual_seed(int(seed))
    pool = mask_pool(slices, multiclass)
    rows: List[Dict[str, float]] = []
    for start in range(0, len(pool), batch_size):
        items = pool[start : start + batch_size]
        masks = pool_masks(slices, items).to(device)
        mask3 = augment_masks(masks, None)  # (B, 3, S, S) in {-1, +1}, as stage 1 and stage 2 see masks
        image3 = torch.from_numpy(np.stack([slices.image3(i) for i, _ in items])).float().to(device)
        z0 = model.encode_mask(mask3, sample=False).float()
        eps = torch.randn(z0.shape, generator=generator).to(device)
        steps = torch.full((len(items),), t, device=device, dtype=torch.long)
        z_t = schedule.add_noise(z0, eps, steps)
        labels = torch.tensor([c for _, c in items], device=device) if multiclass else None
        eps_hat = model.predict_noise(z_t, model.encode_condition(image3), steps, labels).float()
        z0_hat = schedule.predict_original(z_t, eps_hat, steps)
        err = z0_hat - z0
        lowpass = torch.nn.functional.avg_pool2d(err, 4)
        pred = model.soft_map(model.decode_latent(z0_hat)) > 0.5
        dice, _ = dice_iou(pred.cpu(), masks.cpu())
        for k, (_, c) in enumerate(items):
            rows.append({
                "class": c, "eps_l1": float((eps_hat[k] - eps[k]).abs().mean()), "z0_l1": float(err[k].abs().mean()),
                "z0_abs": float(z0[k].abs().mean()),
                "lowpass_share": float(lowpass[k].pow(2).mean().sqrt() / err[k].pow(2).mean().sqrt().clamp(min=1e-12)),
                "dice": float(dice[k]),
            })
    keys = ("eps_l1", "z0_l1", "z0_abs", "lowpass_share", "dice")

    def means(selected: List[Dict[str, float]]) -> Dict[str, float]:
        return {key: round(float(np.mean([r[key] for r in selected])), 5) for key in keys} | {"num_masks": len(selected)}

    per_class = {}
    for c in sorted({r["class"] for r in rows}):
        name = "union" if c == 0 else (str(class_names[c - 1]) if class_names else f"class_{c}")
        per_class[name] = means([r for r in rows if r["class"] == c])
    return {"timestep": t, "amplification": round(((1 - abar) / abar) ** 0.5, 4), **means(rows), "per_class": per_class}


def main(argv: Optional[List[str]] = None) -> int:
    from .config import load_config
    from .data import load_data
    from .errors import TrainingError

    parser = argparse.ArgumentParser(prog="python -m sdseg_training.single_step_error", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="the training config (its data section and split)")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="an exported model folder")
    source.add_argument("--checkpoint", help="a stage-2 checkpoint folder (uses model.autoencoder of the config; "
                        "null: the config's stage-1 output, autoencoder.output_dir, as the trainer does)")
    parser.add_argument("--split", default="val", choices=("val", "test", "train"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", required=True, help="write the report here")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
        device = torch.device(args.device)
        if args.model:
            from SDSegLogic.model_folder import load_model_folder

            model, _ = load_model_folder(args.model, device=device, dtype=torch.float32)
        else:
            from .evaluate import model_from_checkpoint

            model = model_from_checkpoint(cfg, Path(args.checkpoint)).to(device)
        info, _, sets = load_data(cfg.data, Path(cfg.train.output_dir), parts=(args.split,))
        if args.split not in sets:
            raise TrainingError(f"the {args.split} split of {cfg.train.output_dir}/split.json is empty; pick another --split.")
        report = single_step_error(model, sets[args.split], cfg.data.multiclass, info.class_names, seed=args.seed)
    except (TrainingError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = {"source": args.model or args.checkpoint, "split": args.split, "seed": args.seed, **report}
    from .data.splits import write_json_atomic

    write_json_atomic(Path(args.json), report)
    print(f"eps_l1 {report['eps_l1']:.4f}  z0_l1 {report['z0_l1']:.3f} (|z0| {report['z0_abs']:.3f}, x{report['amplification']})  "
          f"lowpass share {report['lowpass_share']:.2f}  dice {report['dice']:.3f}  ({report['num_masks']} masks)")
    for name, row in report["per_class"].items():
        print(f"  {name:>12}: eps_l1 {row['eps_l1']:.4f}  z0_l1 {row['z0_l1']:.3f}  lowpass {row['lowpass_share']:.2f}  dice {row['dice']:.3f}  (n={row['num_masks']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
