"""Validation during training and the final test evaluation (always with the EMA UNet).

Dice and IoU follow :mod:`.metrics` (both empty = 1; a false positive on an empty target = 0).
2D datasets are scored per image, volume datasets per volume (all slices of a case together);
multi-class models are scored per foreground class and the headline ``dice`` is the mean over
classes of the per-case means. Scores are on the training grid (``data.size``), or with ``grid="native"``
on each case's own grid, the predictions resized back as the engine does (:mod:`.native_eval`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import numpy as np
import torch

from SDSegLogic.config import SDSegConfig
from SDSegLogic.models.sdseg_model import SDSegModel
from SDSegLogic.pipeline import SDSegPipeline

from .data import SliceSet, load_data
from .errors import ResumeError
from .metrics import dice_iou, pixel_confusion
from .run_compat import other_data_note
from .split_leak import autoencoder_test_overlap, run_split_path

__all__ = ["predict_slices", "score_predictions", "validate", "whole_case_items", "model_from_checkpoint", "checkpoint_folder",
           "evaluate_run"]


def predict_slices(pipe: SDSegPipeline, slices: SliceSet, num_inference_steps: int = 1, seed: int = 0,
                   batch_size: int = 16, max_items: int = 0, num_samples: int = 1) -> Dict[str, np.ndarray]:
    """Run the pipeline over a slice set.

    ``num_samples > 1`` averages the class maps of that many noise draws per slice (the engine's
    ``--samples``); the labels are then the arg-max of the mean map.

    Returns:
        ``labels`` uint8 (N, S, S) network class index per pixel (binary: 0/1) and ``foreground``
        float32 (N, S, S) soft foreground probability (binary: p; multi-class: 1 - p_background).
    """
    n = len(slices) if not max_items else min(max_items, len(slices))
    labels, soft = [], []
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        images = np.stack([slices.image3(i) for i in idx])
        out = pipe(torch.from_numpy(images), num_inference_steps=num_inference_steps, num_samples=num_samples, seed=seed)
        labels.append(out.labels.numpy().astype(np.uint8))
        probs = out.probabilities.numpy()
        soft.append(probs if probs.ndim == 3 else 1.0 - probs[:, 0])
    return {"labels": np.concatenate(labels), "foreground": np.concatenate(soft).astype(np.float32)}


def whole_case_items(slices: SliceSet, max_items: int) -> int:
    """How many leading slices of ``slices`` to score under a cap of ``max_items``, in whole cases.

    A volume's Dice is one number over all its slices, so a cap must not cut a volume part-way:
    the cases are taken in order until they hold ``max_items`` slices, the last one whole (the
    count may pass the cap by less than one case). ``max_items`` 0 takes every slice.

    Returns:
        The number of leading slices, the end of a case (``len(slices)`` when uncapped).
    """
    n = len(slices)
    if not max_items or max_items >= n:
        return n
    last = slices.case_ids[max_items - 1]
    end = max_items
    while end < n and slices.case_ids[end] == last:
        end += 1
    return end


def score_predictions(slices: SliceSet, pred_labels: np.ndarray, class_names: Sequence[str], multiclass: bool) -> Dict[str, Any]:
    """Per-case, per-class Dice and IoU: summary means, the per-case table and the pixel confusion matrix.

    ``pred_labels`` (n, S, S) covers the first n slices of ``slices``; n must end on a case boundary
    (:func:`whole_case_items`) when it cuts into a volume, since a volume is scored as one case.

    Raises:
        ValueError: ``pred_labels`` ends part-way through a volume.
    """
    n = pred_labels.shape[0]
    gt_all = slices.labels[:n]
    cases = []
    for cid, idx in slices.cases().items():
        is_vol = slices.is_volume.get(cid, False)
        kept = idx[idx < n]
        if is_vol and 0 < len(kept) < len(idx):
            raise ValueError(f"predictions for the first {n} slices end part-way through volume {cid} (slices {idx[0]}-"
                             f"{idx[-1]}), which would be scored as a whole case; predict whole volumes "
                             "(whole_case_items).")
        if len(kept):
            cases.append((cid, is_vol, kept, gt_all[kept], pred_labels[kept]))
    return score_cases(cases, class_names, multiclass)


def score_cases(cases: Iterable[Tuple[str, bool, np.ndarray, np.ndarray, np.ndarray]], class_names: Sequence[str],
                multiclass: bool) -> Dict[str, Any]:
    """Per-case, per-class Dice and IoU of label maps on any grid (:func:`score_predictions`' rule).

    Args:
        cases: ``(case id, is volume, slice indices, true labels, predicted labels)``; the labels are
            class indices (n, H, W) of one case (its grid: the training size or the case's own).
        class_names: the foreground classes.
        multiclass: score each class (else the foreground union as the one class).
    """
    classes = list(range(1, len(class_names) + 1)) if multiclass else [1]
    names = [class_names[i] for i in range(len(classes))] if multiclass else [class_names[0]]
    per_case: Dict[str, Dict[str, List[float]]] = {}
    confusion = np.zeros((len(names) + 1, len(names) + 1), np.int64)
    for cid, is_vol, idx, gt_c, pr_c in cases:
        for ci, c in enumerate(classes):
            gt = (gt_c == c) if multiclass else (gt_c > 0)
            pr = (pr_c == c) if multiclass else (pr_c > 0)
            gt_t, pr_t = torch.from_numpy(gt), torch.from_numpy(pr)
            if is_vol:
                gt_t, pr_t = gt_t[None], pr_t[None]
            d, j = dice_iou(pr_t, gt_t)
            name = class_names[ci] if multiclass else class_names[0]
            for k, (dv, jv) in enumerate(zip(d.tolist(), j.tolist())):
                key = cid if is_vol else f"{cid}" if len(idx) == 1 else f"{cid}[{idx[k]}]"
                per_case.setdefault(key, {})[name] = [dv, jv]
        confusion += pixel_confusion(gt_c if multiclass else (gt_c > 0), pr_c if multiclass else (pr_c > 0), len(names) + 1)
    per_class = {}
    for name in names:
        vals = np.array([v[name] for v in per_case.values() if name in v])
        per_class[name] = {"dice": float(vals[:, 0].mean()), "iou": float(vals[:, 1].mean()), "n": int(len(vals))}
    return {
        "dice": float(np.mean([v["dice"] for v in per_class.values()])),
        "iou": float(np.mean([v["iou"] for v in per_class.values()])),
        "per_class": per_class,
        "confusion": {"labels": ["background", *names], "pixels": confusion.tolist(),
                      "rows": "true label", "columns": "predicted label"},
        "per_case": {k: {c: {"dice": round(x[0], 5), "iou": round(x[1], 5)} for c, x in v.items()} for k, v in per_case.items()},
    }


def _eval_model_of(trainer) -> SDSegModel:
    if getattr(trainer, "_eval_model", None) is None:
        trainer._eval_model = SDSegModel(trainer.model.config)
        trainer._eval_model.autoencoder.load_state_dict(trainer.model.autoencoder.state_dict())
    m = trainer._eval_model
    inner = trainer.accelerator.unwrap_model(trainer.denoiser)
    m.condition_encoder.load_state_dict(inner.condition_encoder.state_dict())
    m.unet.load_state_dict(trainer.ema.shadow.state_dict())
    m.set_scale_factor(trainer.scale_factor)
    return m


def validate(trainer, writer=None) -> Dict[str, Any]:
    """Single-step validation Dice/IoU of the EMA model (main process computes, all return it).

    Runs under ``torch.random.fork_rng`` so that validating never changes the training RNG stream
    (a run validated at step n and one that was not continue identically).
    """
    devices = [trainer.accelerator.device] if trainer.accelerator.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        return _validate(trainer, writer)


def _validate(trainer, writer=None) -> Dict[str, Any]:
    acc, cfg = trainer.accelerator, trainer.cfg
    metrics: Dict[str, Any] = {"dice": 0.0, "iou": 0.0}
    if acc.is_main_process:
        pipe = SDSegPipeline(_eval_model_of(trainer), None, device=acc.device, dtype=torch.float32)
        items = whole_case_items(trainer.val_set, cfg.train.val_max_items)  # whole volumes: one Dice per case
        pred = predict_slices(pipe, trainer.val_set, 1, cfg.train.seed, max_items=items)
        scored = score_predictions(trainer.val_set, pred["labels"], trainer.info.class_names, cfg.data.multiclass)
        metrics = {"dice": scored["dice"], "iou": scored["iou"], **{f"dice/{k}": v["dice"] for k, v in scored["per_class"].items()}}
        if writer is not None:
            for k, v in metrics.items():
                writer.add_scalar(f"val/{k}", v, trainer.step)
            writer.add_image("val/image|target|prediction|soft", image_grid(trainer.val_set, pred), trainer.step)
    if acc.num_processes > 1:
        t = torch.tensor([metrics["dice"], metrics["iou"]], device=acc.device)
        t = acc.reduce(t, reduction="sum")  # only rank 0 is non-zero
        metrics["dice"], metrics["iou"] = float(t[0]), float(t[1])
    return metrics


def image_grid(slices: SliceSet, pred: Dict[str, np.ndarray], rows: int = 4) -> torch.Tensor:
    """(1, rows*S, 4*S) float grid: image | target | prediction | soft map, for TensorBoard."""
    n = min(rows, pred["labels"].shape[0])
    top = max(1, slices.num_classes)
    tiles = []
    for i in range(n):
        img = (slices.image3(i)[0] + 1) / 2
        tiles.append(np.concatenate([img, slices.labels[i] / top, pred["labels"][i] / top, pred["foreground"][i]], axis=1))
    return torch.from_numpy(np.clip(np.concatenate(tiles, axis=0), 0, 1)[None].astype(np.float32))


def checkpoint_folder(output_dir: Path, which: str) -> Path:
    """The checkpoint folder ``which`` (``best``, ``latest`` or a path) names in a run; a ``best`` left aside by a
    crash between the two renames of its replacement is put back first (:func:`~.checkpoint.recover_interrupted_swap`).

    Raises:
        ResumeError: no such checkpoint, naming the remedy.
    """
    from .checkpoint import latest_checkpoint, recover_interrupted_swap

    output_dir = Path(output_dir)
    if which == "best":
        path = output_dir / "checkpoints" / "best"
    elif which == "latest":
        path = latest_checkpoint(output_dir)
    else:
        path = Path(which)
    if path is not None:
        recover_interrupted_swap(path)
    if path is None or not path.is_dir():
        if which in ("best", "latest") and latest_checkpoint(output_dir) is None:  # stopped before its first save
            raise ResumeError(f"no checkpoint under {output_dir / 'checkpoints'} (the run saved none, e.g. it stopped "
                              "before its first train.ckpt_every step); train it first (sdseg-train resumes or starts "
                              "it), or pass a checkpoint folder with --checkpoint.")
        hint = ""
        if which == "best":
            hint = (" A 'best' checkpoint is only written when the run validates (it needs a validation split); "
                    "use --checkpoint latest for the last one.")
        raise ResumeError(f"checkpoint {which!r} not found under {output_dir / 'checkpoints'}; train first, or pass "
                          f"--checkpoint latest or a checkpoint folder.{hint}")
    return path


def model_from_checkpoint(cfg, folder: Path) -> SDSegModel:
    """Rebuild the evaluation model: autoencoder (config source), tau_theta, EMA UNet, scale_factor."""
    import json

    from safetensors.torch import load_file

    from .modeling import autoencoder_fingerprint, is_random_autoencoder, load_autoencoder_weights, resolve_autoencoder_source

    state = json.loads((Path(folder) / "state.json").read_text(encoding="utf-8"))
    config = SDSegConfig.from_dict(state["model_config"], source=str(folder))
    model = SDSegModel(config)
    source = resolve_autoencoder_source(cfg)  # null: the config's stage-1 output, as in training
    if not is_random_autoencoder(source):
        load_autoencoder_weights(model, source)
    expected = state.get("autoencoder_sha256")
    if expected and autoencoder_fingerprint(model.autoencoder) != expected:
        raise ResumeError(autoencoder_mismatch_message(folder, source, expected))
    weights = load_file(str(Path(folder) / "model.safetensors"))
    model.condition_encoder.load_state_dict({k[len("condition_encoder."):]: v for k, v in weights.items() if k.startswith("condition_encoder.")})
    model.unet.load_state_dict(load_file(str(Path(folder) / "ema.safetensors")))
    model.set_scale_factor(float(state["scale_factor"]))
    model.training_state = state  # type: ignore[attr-defined]
    return model.eval()


def check_checkpoint_classes(cfg, model: SDSegModel, class_names: Sequence[str], folder: Path, doing: str) -> None:
    """Refuse to evaluate or export with classes other than the checkpoint's, given or implied by the data.

    Checks ``model.num_classes`` against the data's classes (``data.classes``, or the dataset's own
    when it is not set), then the config's classes against those the checkpoint recorded and the
    class count of its UNet.

    Raises:
        TrainingConfigError: naming the checkpoint, both settings and the remedy.
    """
    from .config_checks import check_class_count
    from .run_compat import check_same_classes

    check_class_count(cfg.model.num_classes, cfg.data.multiclass, len(class_names), f"data.kind={cfg.data.kind}")
    state = dict(model.training_state)
    recorded = state.get("config") or {}
    if "model" not in recorded or "data" not in recorded:  # a checkpoint without its config: the UNet's class count
        recorded = {"model": {"num_classes": model.config.unet.num_classes},
                    "data": {"multiclass": model.config.unet.num_classes is not None, "classes": cfg.data.classes}}
    check_same_classes(folder, {**state, "config": recorded}, cfg, class_names, doing)


def autoencoder_mismatch_message(folder: Path, source: str, expected: str) -> str:
    """Why a checkpoint refuses ``source``: names the sha256 the run needs and, if one exists, the kept copy."""
    from .stage1_output import find_replaced_stage1

    kept = find_replaced_stage1(source, expected)
    remedy = (f"the stage-1 folder kept the original when it was overwritten: set model.autoencoder={kept}"
              if kept is not None else
              "point model.autoencoder to the stage-1 output (or kl-f8 weights) whose weights have that fingerprint "
              "(sdseg_training.modeling.state_fingerprint of its autoencoder.safetensors)")
    return (f"{folder}: model.autoencoder={source} is not the frozen autoencoder this run was trained with "
            f"(autoencoder sha256 {expected} expected); {remedy}.")


def evaluate_run(cfg, split: str = "test", checkpoint: str = "best", steps: Sequence[int] = (1,), seed: int = 0,
                 device: str = "cpu", batch_size: int = 16, samples: Sequence[int] = (1,), grid: str = "training") -> Dict[str, Any]:
    """Score a checkpoint on a split for each number of inference steps and of noise samples.

    Args:
        steps: inference steps to score (1 = the paper's single step, > 1 = DDIM).
        samples: noise draws averaged per slice (1 = the paper's one draw). Results are keyed
            ``steps=S`` for one draw and ``steps=S,samples=N`` for N > 1.
        grid: ``training`` scores against the labels resized to ``data.size`` (as the original's
            numbers); ``native`` resizes the predictions back to each case's own grid and scores
            against the label files there (:mod:`.native_eval`).
    """
    from .native_eval import GRIDS, native_cases, score_native

    bad = [n for n in samples if int(n) < 1]
    if bad:
        raise ValueError(f"samples must be >= 1, got {bad}; use 1 for the paper's single draw.")
    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {list(GRIDS)}, got {grid!r}.")
    if cfg.train.num_threads:
        torch.set_num_threads(int(cfg.train.num_threads))
    folder = checkpoint_folder(Path(cfg.train.output_dir), checkpoint)
    info, split_ids, sets = load_data(cfg.data, Path(cfg.train.output_dir), parts=(split,))
    if split not in sets:
        others = " or ".join(f"--split {name}" for name in ("val", "train") if name != split and split_ids.get(name))
        raise ResumeError(f"the {split!r} split is empty in {run_split_path(cfg)}; score another split "
                          f"({others or 'none holds cases'}), or evaluate a run whose split holds {split} cases.")
    natives = native_cases(info.cases, split_ids[split], cfg.data.kind) if grid == "native" else None
    model = model_from_checkpoint(cfg, folder)
    check_checkpoint_classes(cfg, model, info.class_names, folder, "evaluate")
    pipe = SDSegPipeline(model, None, device=device, dtype=torch.float32)
    result: Dict[str, Any] = {"checkpoint": str(folder), "step": model.training_state["step"], "split": split,
                              "cases": len(split_ids[split]), "seed": seed, "steps": [int(s) for s in steps],
                              "samples": [int(n) for n in samples], "device": str(device), "grid": grid, "results": {}}
    leak = autoencoder_test_overlap(cfg.model.autoencoder, run_split_path(cfg)) if split == "test" else None
    for note in (other_data_note(folder, model.training_state, cfg), leak):
        if note:  # the JSON keeps it beside the scores it qualifies
            warnings.warn(note, stacklevel=2)
            result.setdefault("warnings", []).append(note)
    for s in steps:
        for n in samples:
            key = f"steps={s}" if int(n) == 1 else f"steps={s},samples={n}"
            if natives is not None:
                result["results"][key] = score_native(pipe, sets[split], natives, info.class_names, cfg.data.multiclass,
                                                      info.image_resize, int(s), seed, batch_size, int(n))
                continue
            pred = predict_slices(pipe, sets[split], int(s), seed, batch_size, num_samples=int(n))
            result["results"][key] = score_predictions(sets[split], pred["labels"], info.class_names, cfg.data.multiclass)
    return result
