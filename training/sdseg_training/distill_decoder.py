"""Distil a fast mask decoder from a model's frozen autoencoder decoder (beyond the paper; opt-in).

The student (``SDSegLogic`` ``FastDecoderConfig``, a diffusers ``DecoderTiny``) learns to map a
scaled mask latent z to the image the teacher produces from it, ``AE.decode(z / s)``:

* latents come from encoding masks with the frozen autoencoder (a posterior sample), jittered
  with Gaussian noise so that the student also sees the slightly off-manifold latents that the
  single-step estimate produces at inference;
* masks come from the deterministic phantom generator (blobs and 1-3 px thin structures,
  binary or one class at a time) and, with ``--config``, from the training split of the model's
  own dataset (union and each present class, in the 4 flip variants);
* loss: L1 between student and teacher images; AdamW at a constant lr (``--time-budget-s``
  stops early, e.g. for a fixed GPU budget).

The report compares, on held-out phantom masks (and, with ``--config``, on the masks of the
validation split): Dice of the teacher's decoded mask against the mask, Dice of the student's
against the mask, and their agreement. Export writes a new model folder whose card names the
fast decoder and its Dice cost, under the teacher's ``model_id`` at a version of its own
(:func:`distilled_version`: ``1.0.0`` -> ``1.0.0+fast-decoder``, or ``--version``), so that both
install side by side in the models cache and ``id@version`` names one of them.

Usage::

    python -m sdseg_training.distill_decoder MODEL_DIR OUT_DIR --steps 2000 --batch 8
    python -m sdseg_training.distill_decoder MODEL_DIR OUT_DIR --steps 100000 --time-budget-s 60 \
        --batch 64 --device auto --variant fp16 --config training/configs/demo_ct_lite_gpu.yaml
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch

from SDSegLogic.config import FastDecoderConfig
from SDSegLogic.model_folder import load_model_folder, save_model_folder
from SDSegLogic.models import SDSegModel

from .data.phantom import phantom_image

__all__ = ["phantom_masks", "distill_fast_decoder", "evaluate_fast_decoder", "attach_fast_decoder", "distilled_version",
           "main"]

#: Semantic-versioning build metadata that names a distilled model's version (ordered just after its teacher's).
FAST_DECODER_BUILD = "fast-decoder"


def distilled_version(teacher: str) -> str:
    """The default version of a model distilled from version ``teacher``: build metadata ``fast-decoder`` added.

    ``1.0.0`` -> ``1.0.0+fast-decoder``, ``1.0.0+abc`` -> ``1.0.0+abc.fast-decoder``: another cache folder than
    the teacher's, sorted just after it (:func:`SDSegLogic.model_names.version_key`).
    """
    return f"{teacher}{'.' if '+' in teacher else '+'}{FAST_DECODER_BUILD}"


def phantom_masks(seed: int, count: int, size: int) -> np.ndarray:
    """Binary masks (count, size, size) bool: per phantom, the union, the blob or the thin structure."""
    masks = []
    for index in range(count):
        _, labels = phantom_image(seed, index, size=size)
        choice = index % 3
        masks.append(labels > 0 if choice == 0 else labels == choice)
    return np.stack(masks)


def dataset_masks(cfg, part: str = "train", flips: bool = True) -> np.ndarray:
    """Bool (N, S, S) masks of a training config's ``part`` split: union + each present class.

    Args:
        cfg: a :class:`~sdseg_training.config.TrainConfig` (its ``data`` section is read).
        part: ``train`` or ``val`` (never the test split).
        flips: add the horizontally, vertically and doubly flipped copies (4x the masks).
    """
    import tempfile

    from .autoencoder import mask_pool
    from .data import load_data
    from .data.slices import binary_target

    if part not in ("train", "val"):
        raise ValueError(f"part must be 'train' or 'val' (the test split stays unseen), got {part!r}")
    split_dir = Path(cfg.train.output_dir) if cfg.data.split_file is None and Path(cfg.train.output_dir, "split.json").is_file() else None
    with tempfile.TemporaryDirectory() as tmp:
        _, _, sets = load_data(cfg.data, split_dir or Path(tmp), parts=(part,))
    slices = sets[part]
    masks = np.stack([binary_target(slices.labels[i], c) for i, c in mask_pool(slices, cfg.data.multiclass)])
    if flips:
        masks = np.concatenate([masks, masks[:, :, ::-1], masks[:, ::-1, :], masks[:, ::-1, ::-1]])
    return np.ascontiguousarray(masks)


def _batches(masks: torch.Tensor, batch: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    while True:
        order = torch.randperm(len(masks), generator=generator).to(masks.device)
        for start in range(0, len(order) - batch + 1, batch):
            chosen = masks[order[start : start + batch]]
            yield chosen.float()[:, None].repeat(1, 3, 1, 1) * 2 - 1  # (B, 3, S, S) in {-1, +1}


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def attach_fast_decoder(model: SDSegModel, config: FastDecoderConfig) -> SDSegModel:
    """A copy of ``model`` with a freshly initialised fast decoder of ``config``."""
    student = SDSegModel(model.config.replace(fast_decoder=config))
    missing, unexpected = student.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not k.startswith("fast_decoder.") for k in missing):
        raise RuntimeError(f"could not copy the model into the student: missing {missing[:4]}, unexpected {unexpected[:4]}")
    return student


def distill_fast_decoder(
    model: SDSegModel,
    masks: np.ndarray,
    config: FastDecoderConfig = FastDecoderConfig(),
    steps: int = 2000,
    batch: int = 8,
    lr: float = 1e-3,
    latent_jitter: float = 0.1,
    seed: int = 0,
    log_every: int = 100,
    device: Optional[torch.device] = None,
    time_budget_s: float = 0.0,
) -> Tuple[SDSegModel, List[Tuple[int, float]]]:
    """Train a fast decoder against the frozen teacher decoder.

    Args:
        model: the trained SDSeg model (only its autoencoder is used, frozen).
        masks: bool (N, S, S) training masks at the model's sample size.
        config: student architecture.
        steps, batch, lr: optimisation budget (AdamW).
        latent_jitter: std of the Gaussian noise added to the (unit-variance) latents.
        seed: seeds initialisation, batches and noise.
        log_every: loss logging interval.
        device: where to train (default: the CPU); the returned model stays there.
        time_budget_s: stop after this many seconds even before ``steps`` (0 = no limit).

    Returns:
        (model with the trained ``fast_decoder`` component, [(step, loss), ...]).
    """
    import time

    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(seed)
    student_model = attach_fast_decoder(model, config).to(device)
    teacher = student_model.autoencoder.eval().requires_grad_(False)
    student = student_model.fast_decoder.train()
    optimiser = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    history: List[Tuple[int, float]] = []
    running = torch.zeros((), device=device)
    since_log = 0
    start = time.perf_counter()
    mask_t = torch.from_numpy(np.ascontiguousarray(masks)).to(device)
    for step, mask3 in zip(range(1, steps + 1), _batches(mask_t, batch, generator)):
        with torch.no_grad():
            z = teacher.encode(mask3).latent_dist.sample(generator=generator) * model.config.scale_factor
            z = z + latent_jitter * torch.randn(z.shape, generator=generator).to(device)
            target = teacher.decode(z / model.config.scale_factor).sample
        loss = torch.nn.functional.l1_loss(student(z), target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        running += loss.detach()
        since_log += 1
        out_of_time = bool(time_budget_s) and time.perf_counter() - start >= time_budget_s
        if step % log_every == 0 or step == steps or out_of_time:
            history.append((step, float(running) / since_log))
            running.zero_()
            since_log = 0
        if out_of_time:
            break
    student.eval()
    return student_model, history


def _dice(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image Dice of bool (N, H, W) masks; 1 when both are empty."""
    inter = (a & b).flatten(1).sum(1).float()
    total = (a.flatten(1).sum(1) + b.flatten(1).sum(1)).float()
    return torch.where(total > 0, 2 * inter / total.clamp_min(1), torch.ones_like(total))


@torch.no_grad()
def evaluate_fast_decoder(model: SDSegModel, masks: np.ndarray, batch: int = 16, seed: int = 1) -> Dict[str, float]:
    """Mean per-image Dice of teacher and student decodes of mask latents, on held-out masks."""
    generator = torch.Generator().manual_seed(seed)
    device = _device_of(model)
    teacher_dice, student_dice, agreement, max_abs = [], [], [], 0.0
    for start in range(0, len(masks), batch):
        target = torch.from_numpy(np.ascontiguousarray(masks[start : start + batch]))
        mask3 = target.float()[:, None].repeat(1, 3, 1, 1).to(device) * 2 - 1
        z = model.autoencoder.encode(mask3).latent_dist.sample(generator=generator) * model.config.scale_factor
        slow = model.soft_map(model.decode_latent(z)).cpu()
        fast = model.soft_map(model.decode_latent(z, fast=True)).cpu()
        teacher_dice.append(_dice(slow > 0.5, target))
        student_dice.append(_dice(fast > 0.5, target))
        agreement.append(_dice(fast > 0.5, slow > 0.5))
        max_abs = max(max_abs, float((fast - slow).abs().max()))
    teacher, student = torch.cat(teacher_dice).mean().item(), torch.cat(student_dice).mean().item()
    return {
        "dice_autoencoder_decoder": round(teacher, 5),
        "dice_fast_decoder": round(student, 5),
        "dice_delta": round(student - teacher, 5),
        "dice_fast_vs_autoencoder": round(torch.cat(agreement).mean().item(), 5),
        "softmap_max_abs_vs_autoencoder": round(max_abs, 5),
        "images": int(len(masks)),
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdseg_training.distill_decoder",
                                     description="Distil an opt-in fast mask decoder into a copy of a model folder.")
    parser.add_argument("model", type=Path, help="trained model folder")
    parser.add_argument("output", type=Path, help="new model folder (the input is never modified)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--channels", type=int, default=32, help="channels of every fast-decoder level")
    parser.add_argument("--train-masks", type=int, default=2000)
    parser.add_argument("--eval-masks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variant", choices=["fp16"], default=None)
    parser.add_argument("--device", default="cpu", help="'cpu', 'cuda' or 'auto' (CUDA when available)")
    parser.add_argument("--time-budget-s", type=float, default=0.0, help="stop training after this many seconds (0 = run --steps)")
    parser.add_argument("--config", default=None,
                        help="training YAML of the model: also distil on its training-split masks and report its validation masks")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override for --config (repeatable), e.g. --set data.root=data/demo_ct.npz")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--version", default=None,
                        help="version of the new model card (default: the teacher's + '+fast-decoder'); never the teacher's")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))
    model, card = load_model_folder(args.model)
    version = _output_version(parser, card.version, args.version, args.model)
    size = model.config.sample_size
    levels = len(model.config.autoencoder.block_out_channels)
    config = FastDecoderConfig(block_out_channels=(args.channels,) * levels, num_blocks=(1,) + (2,) * (levels - 2) + (1,))
    start = time.perf_counter()
    train_masks = phantom_masks(args.seed, args.train_masks, size)
    cfg = None
    if args.config:
        from .config import load_config

        cfg = load_config(args.config, args.overrides)
        own = dataset_masks(cfg, "train")
        if own.shape[1:] != train_masks.shape[1:]:
            raise ValueError(f"--config masks are {own.shape[1]} px but the model's sample size is {size}; set data.size={size}.")
        train_masks = np.concatenate([train_masks, own])
    student, history = distill_fast_decoder(
        model, train_masks, config, args.steps, args.batch, args.lr, seed=args.seed, device=device,
        time_budget_s=args.time_budget_s, log_every=max(1, min(100, args.steps // 10)),
    )
    seconds = round(time.perf_counter() - start, 1)
    report = evaluate_fast_decoder(student, phantom_masks(args.seed + 1000, args.eval_masks, size))
    report.update(
        distilled_from="the model's frozen autoencoder decoder",
        evaluated_on=f"{args.eval_masks} held-out phantom masks at {size} px (posterior-sampled latents)",
        trained_on=f"{args.train_masks} phantom masks" + (f" + {len(train_masks) - args.train_masks} training-split masks of {cfg.data.kind}" if cfg else ""),
        steps=history[-1][0] if history else 0,
        batch=args.batch,
        seconds=seconds,
        parameters=sum(p.numel() for p in student.fast_decoder.parameters()),
        opt_in=True,
        teacher_version=card.version,
    )
    if cfg is not None:
        report["validation_masks"] = evaluate_fast_decoder(student, dataset_masks(cfg, "val", flips=False))
    save_model_folder(args.output, student.cpu(), card.replace(version=version, fast_decoder=report), variant=args.variant, overwrite=args.overwrite)
    print(json.dumps({"loss": history[-5:], **report}, indent=2))
    return 0


def _output_version(parser: argparse.ArgumentParser, teacher: str, given: Optional[str], folder: Path) -> str:
    """The distilled card's version: ``given`` or :func:`distilled_version`; refused (exit 2) when it is the teacher's."""
    from SDSegLogic.model_names import same_version, version_problem

    version = given if given is not None else distilled_version(teacher)
    problem = version_problem(version, "pass another --version")
    if problem:
        parser.error(f"--version: {problem}")
    if same_version(version, teacher):
        parser.error(f"--version {version} is the version of the teacher {folder}: the two folders would claim one "
                     f"models-cache folder and one id@version; pass another --version (default "
                     f"{distilled_version(teacher)}).")
    return version


if __name__ == "__main__":
    raise SystemExit(main())
