"""Held-out evaluation of an *exported* model folder, and the one-line summary of a demo run.

``eval`` loads the folder with the engine (``SDSegPipeline.from_pretrained``, fp32 networks),
segments the test split of the training config (for the demo CT: slices 40-66, never used for
training or model selection) with a single step, and reports:

* per-class Dice / IoU with the autoencoder decoder (``full``) and, if the folder carries one,
  with the distilled fast decoder (``fast``), their difference ``fast - full`` per class, and the
  agreement (Dice) between the two label maps;
* the reconstruction Dice of the folder's autoencoder on the held-out masks of the test split
  (and of the validation split), per mask as in :func:`~.autoencoder.reconstruction_dice`;
* optionally (``--samples N ...``) the Dice of the mean class map of N noise draws per slice;
* optionally (``--cpu-check``) that the folder loads and segments on the CPU with and without
  ``fast_decoder=True``;
* ``warnings``: when the config prepares the data otherwise than the folder's model card says
  (intensity window or mapping, size, resize mode), as ``sdseg-eval`` does for a checkpoint
  (:func:`~.run_compat.card_data_note`), or names other classes than the card; the scores are still
  computed; and, as ``sdseg-eval`` does, when the config's stage-1 autoencoder was trained or selected
  on masks of the test split (scores optimistic), or that this could not be checked (no stage-1
  ``split.json`` to compare: :func:`~.split_leak.heldout_overlap_note`), and when that stage-1 folder's
  weights are not the ones the card's ``training.autoencoder_sha256`` names (both digests). A config that lists the card's classes in another order, or another number of classes
  (a binary config for a multi-class card included), is refused (:func:`~.card_classes.card_class_note`):
  each per-class Dice would describe another class.

Dice follows :mod:`.metrics` and :func:`~.evaluate.score_predictions`: one Dice per class per
case; the demo's test split is one pseudo-volume, so each class gets one Dice over the 27-slice
block (empty prediction on an absent class = 1, any false positive on it = 0). ``--grid native``
scores as ``sdseg-eval --grid native`` does (:mod:`.native_eval`): the predictions resized back to each
case's own grid, against the label files as read; the fast-vs-full agreement stays on the training grid.

``summary`` gathers a ``train_demo_gpu.sh`` output folder into ``summary.json`` and prints it
as one line::

    python -m sdseg_training.heldout eval CONFIG.yaml [overrides] --model DIR --json OUT.json [--samples 4 8] [--grid native]
    python -m sdseg_training.heldout summary OUTDIR
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from .errors import ResumeError
from .split_leak import heldout_overlap_note, run_split_path

__all__ = ["evaluate_folder", "summarize_run", "main"]


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def evaluate_folder(cfg, model_dir: Path, device: str = "auto", seed: int = 0, batch_size: int = 16,
                    cpu_check: bool = False, samples: Sequence[int] = (),
                    config_file: Optional[str] = None, grid: str = "training") -> Dict[str, Any]:
    """Score an exported model folder on the config's test split (see module docstring).

    Args:
        samples: extra numbers of noise draws N > 1 to score with the full decoder: the arg-max of
            the mean class map over N draws per slice (``sdseg segment --samples N``), reported under
            ``multi_sample["samples=N"]`` beside the single draw of ``full``.
        config_file: the training YAML ``cfg`` was read from, named when the classes disagree.
        grid: ``training`` (labels resized to ``data.size``) or ``native`` (each case's own grid, as
            ``sdseg-eval --grid native``: :func:`~.native_eval.score_native`).

    Raises:
        TrainingConfigError: the config's classes are not the model card's in number or order, or
            ``grid="native"`` for data without label files (:func:`~.native_eval.native_cases`).
    """
    from SDSegLogic.pipeline import SDSegPipeline

    from .data import load_data
    from .evaluate import predict_slices, score_predictions
    from .card_classes import card_class_note
    from .native_eval import GRIDS, native_cases, score_native
    from .run_compat import card_data_note

    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {list(GRIDS)}, got {grid!r}.")
    model_dir = Path(model_dir)
    dev = _resolve_device(device)
    info, split, sets = load_data(cfg.data, Path(cfg.train.output_dir), parts=("test", "val"))
    if "test" not in sets:
        raise ResumeError(f"the test split of {run_split_path(cfg)} is empty; nothing held out to evaluate.")
    test = sets["test"]
    names = info.class_names
    natives = native_cases(info.cases, split["test"], cfg.data.kind) if grid == "native" else None

    def score(pipe, labels: Optional[np.ndarray], num_samples: int = 1) -> Dict[str, Any]:
        """Scores of ``labels`` (training grid), or with ``grid="native"`` of the same call on each case's grid."""
        if natives is None:
            return score_predictions(test, labels, names, cfg.data.multiclass)
        return score_native(pipe, test, natives, names, cfg.data.multiclass, info.image_resize, 1, seed, batch_size,
                            num_samples)

    started = time.perf_counter()
    full = SDSegPipeline.from_pretrained(model_dir, device=dev, dtype=torch.float32)
    result: Dict[str, Any] = {
        "model": str(model_dir), "device": str(dev), "seed": seed, "num_inference_steps": 1,
        "split": "test", "grid": grid, "test_slices": len(test), "model_mb": round(sum(p.stat().st_size for p in model_dir.iterdir() if p.is_file()) / 2**20, 2),
        "files": sorted(p.name for p in model_dir.iterdir()),
    }
    notes = [card_class_note(model_dir, full.model_card, names, cfg.data.multiclass, config_file),  # refuses count, order
             card_data_note(model_dir, full.model_card, info.intensity, cfg.data.size, info.image_resize),
             heldout_overlap_note(cfg, (full.model_card.training or {}).get("autoencoder_sha256"))]  # as sdseg-eval
    for note in filter(None, notes):  # the JSON keeps them beside the scores they qualify
        warnings.warn(note, stacklevel=2)
        result.setdefault("warnings", []).append(note)
    slices_info = json.loads((Path(cfg.data.split_file) if cfg.data.split_file else Path(cfg.train.output_dir) / "split.json").read_text())
    if "slices" in slices_info:
        result["test_slice_indices"] = [min(slices_info["slices"]["test"]), max(slices_info["slices"]["test"])]
    has_fast = full.model.fast_decoder is not None  # the agreement needs the training-grid labels on either grid
    pred_full = predict_slices(full, test, 1, seed, batch_size) if natives is None or has_fast else {"labels": None}
    scored_full = score(full, pred_full["labels"])
    result["full"] = _headline(scored_full)
    if has_fast:
        fast = SDSegPipeline.from_pretrained(model_dir, device=dev, dtype=torch.float32, fast_decoder=True)
        pred_fast = predict_slices(fast, test, 1, seed, batch_size)
        scored_fast = score(fast, pred_fast["labels"])
        result["fast"] = _headline(scored_fast)
        agree = _agreement(pred_full["labels"], pred_fast["labels"], len(names) if cfg.data.multiclass else 1)
        result["fast_minus_full_dice"] = {
            "mean": round(scored_fast["dice"] - scored_full["dice"], 5),
            "per_class": {c: round(scored_fast["per_class"][c]["dice"] - scored_full["per_class"][c]["dice"], 5) for c in scored_full["per_class"]},
        }
        result["fast_vs_full_agreement_dice"] = {c: agree[i] for i, c in enumerate(scored_full["per_class"])}
        del fast
    for n in sorted({int(n) for n in samples if int(n) > 1}):
        scored = score(full, None if natives is not None else
                       predict_slices(full, test, 1, seed, batch_size, num_samples=n)["labels"], n)
        result.setdefault("multi_sample", {})[f"samples={n}"] = _headline(scored)
    result["autoencoder_reconstruction"] = _reconstruction_report(full.model.autoencoder, sets, cfg.data.multiclass, names)
    result["seconds"] = round(time.perf_counter() - started, 1)
    if cpu_check:
        result["cpu_check"] = cpu_load_check(model_dir, test.images[:2])
    return result


def _headline(scored: Dict[str, Any]) -> Dict[str, Any]:
    """Mean Dice / IoU, the per-class table and the pixel confusion of a :func:`~.evaluate.score_predictions` result."""
    return {"dice": scored["dice"], "iou": scored["iou"], "per_class": scored["per_class"], "confusion": scored["confusion"]}


def _dice_line(label: str, scored: Dict[str, Any]) -> str:
    return (f"held-out Dice ({label}): " + ", ".join(f"{c} {v['dice']:.3f}" for c, v in scored["per_class"].items())
            + f"; mean {scored['dice']:.3f}")


def _missed_line(scored: Dict[str, Any]) -> str:
    """Where each class's true pixels went: the share predicted as background, and as another class."""
    labels, pixels = scored["confusion"]["labels"], np.asarray(scored["confusion"]["pixels"], dtype=np.float64)
    parts = []
    for i, name in enumerate(labels[1:], start=1):
        total = pixels[i].sum()
        if total:
            parts.append(f"{name} {pixels[i, 0] / total:.2f} / {(total - pixels[i, 0] - pixels[i, i]) / total:.2f}")
    return "share of true pixels predicted as background / as another class: " + ", ".join(parts)


def _reconstruction_report(ae, sets: Dict[str, Any], multiclass: bool, names) -> Dict[str, Any]:
    """Reconstruction Dice of ``ae`` on the test split (and validation, when loaded)."""
    from .autoencoder import reconstruction_dice

    report = {part: reconstruction_dice(ae, sets[part], multiclass, class_names=names) for part in ("test", "val") if part in sets}
    report["metric"] = "one Dice per mask (slice x class: union + each present class), posterior mode, p > 0.5; mean over masks"
    return report


def _reconstruction_line(rec: Dict[str, Any]) -> str:
    return (f"autoencoder reconstruction Dice on held-out test masks: mean {rec['dice_mean']:.4f} min {rec['dice_min']:.4f} "
            f"({rec['num_masks']} masks)" + (f"; one-pixel seams filled {rec['seam_pixels_filled']} of {rec['seam_pixels']}"
                                             if "seam_pixels" in rec else ""))


def _add_run_arguments(parser, config_help: str) -> None:
    """The arguments ``eval`` and ``ae`` share: the config, its overrides, the JSON output, the device."""
    parser.add_argument("config", help=config_help)
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides")
    parser.add_argument("--json", required=True, help="write the result here")
    parser.add_argument("--device", default="auto")


def evaluate_autoencoder(cfg, stage1: Path, device: str = "auto") -> Dict[str, Any]:
    """Reconstruction Dice of a stage-1 autoencoder on the held-out test masks (and validation).

    The split is the one stage 1 wrote (``<autoencoder.output_dir>/split.json``), so the test
    block is the same slices the stage-2 evaluation holds out.
    """
    from SDSegLogic.models.sdseg_model import SDSegModel

    from .data import load_data
    from .modeling import build_model_config, load_autoencoder_weights

    dev = _resolve_device(device)
    info, _, sets = load_data(cfg.data, Path(stage1), parts=("test", "val"))
    if "test" not in sets:
        raise ResumeError(f"the test split of {stage1}/split.json is empty; nothing held out to evaluate.")
    model = SDSegModel(build_model_config(cfg.model, cfg.data))
    source = load_autoencoder_weights(model, str(stage1))
    ae = model.autoencoder.to(dev).float().eval()
    names = info.class_names
    with torch.no_grad():
        return {"autoencoder": source, **_reconstruction_report(ae, sets, cfg.data.multiclass, names)}


def _agreement(a: np.ndarray, b: np.ndarray, classes: int) -> List[float]:
    """Dice between two label maps for each foreground class over the whole set (both empty = 1)."""
    out = []
    for c in range(1, classes + 1):
        pa, pb = a == c, b == c
        total = int(pa.sum() + pb.sum())
        out.append(round(2.0 * float((pa & pb).sum()) / total, 5) if total else 1.0)
    return out


def cpu_load_check(model_dir: Path, images: np.ndarray) -> Dict[str, Any]:
    """Load the folder on the CPU (with and without the fast decoder) and segment ``images``."""
    from SDSegLogic.pipeline import SDSegPipeline

    img = torch.from_numpy(np.repeat(images.astype(np.float32), 3, axis=1) if images.shape[1] == 1 else images.astype(np.float32))
    report: Dict[str, Any] = {}
    for fast in (False, True):
        started = time.perf_counter()
        pipe = SDSegPipeline.from_pretrained(model_dir, device="cpu", fast_decoder=fast)
        out = pipe(img, num_inference_steps=1, seed=0)
        ok = bool(torch.isfinite(out.probabilities).all()) and tuple(out.labels.shape) == (img.shape[0],) + tuple(img.shape[-2:])
        report["fast_decoder" if fast else "autoencoder_decoder"] = {
            "ok": ok, "labels_shape": list(out.labels.shape), "classes_found": sorted(int(v) for v in torch.unique(out.labels)),
            "seconds": round(time.perf_counter() - started, 2),
        }
    return report


def _read(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def summarize_run(outdir: Path) -> Dict[str, Any]:
    """Collect a ``train_demo_gpu.sh`` output folder into one small dict (see :func:`main`)."""
    outdir = Path(outdir)
    steps: Dict[str, Any] = {}
    status_file = outdir / "steps.tsv"
    if status_file.is_file():
        for line in status_file.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                steps[parts[0]] = {"rc": int(parts[1]), "seconds": float(parts[2])}
    summary: Dict[str, Any] = {"status": "ok" if steps and all(v["rc"] == 0 for v in steps.values()) else "failed", "outdir": str(outdir), "steps": steps}
    ae = _read(outdir / "stage1" / "autoencoder.json")
    if ae:
        rec = ae.get("heldout_reconstruction", {})
        summary["stage1"] = {"steps": ae.get("steps"), "seconds": ae.get("seconds"), "val_recon_dice_mean": rec.get("dice_mean"),
                             "val_recon_dice_min": rec.get("dice_min")}
    from .checkpoint import latest_checkpoint, recover_interrupted_swap

    recover_interrupted_swap(outdir / "stage2" / "checkpoints" / "best")  # left aside by a crash: put back, as sdseg-eval does
    best = _read(outdir / "stage2" / "checkpoints" / "best" / "state.json")
    if best:
        latest = latest_checkpoint(outdir / "stage2")
        last = _read(latest / "state.json") if latest else None
        summary["stage2"] = {"steps": (last or best).get("step"), "best_val_dice": best.get("best", {}).get("metric"),
                             "best_step": best.get("step")}
    held = _read(outdir / "heldout.json")
    if held:
        summary["heldout_dice"] = {"mean": round(held["full"]["dice"], 4), **{c: round(v["dice"], 4) for c, v in held["full"]["per_class"].items()}}
        if "fast_minus_full_dice" in held:
            summary["fast_minus_full_dice"] = held["fast_minus_full_dice"]["per_class"]
        rec = held["autoencoder_reconstruction"]["test"]
        summary["ae_heldout_recon_dice"] = {"mean": round(rec["dice_mean"], 4), "min": round(rec["dice_min"], 4)}
        summary["model"] = held["model"]
        summary["model_mb"] = held["model_mb"]
        if "cpu_check" in held:
            summary["cpu_load_check_ok"] = all(v["ok"] for v in held["cpu_check"].values())
    return summary


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point (``eval``, ``ae`` or ``summary``); returns the exit status.

    An error the package raises on purpose is one line, ``python -m sdseg_training.heldout: error: ...``,
    with the exit code of :data:`~.cli.EXIT_CODES`, as the console commands report it; anything else
    keeps its traceback.
    """
    from .cli import EXIT_UNEXPECTED, exit_code_for, user_error

    try:
        return _main(argv)
    except Exception as exc:
        code = exit_code_for(exc)
        if code == EXIT_UNEXPECTED:
            raise
        sys.stderr.write(f"python -m sdseg_training.heldout: error: {' '.join(str(user_error(exc) or exc).split())}\n")
        return code


def _main(argv: Optional[List[str]]) -> int:
    from .data.splits import write_json_atomic

    p = argparse.ArgumentParser(prog="python -m sdseg_training.heldout", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("eval", help="score an exported model folder on the test split")
    _add_run_arguments(ev, "the training YAML of the run (data section, train.output_dir for split.json)")
    ev.add_argument("--model", required=True, help="exported model folder")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--batch-size", type=int, default=16)
    ev.add_argument("--cpu-check", action="store_true", help="also load and run the folder on the CPU (both decoders)")
    ev.add_argument("--samples", type=int, nargs="+", default=[], metavar="N",
                    help="also score the mean class map of N > 1 noise draws per slice (full decoder)")
    ev.add_argument("--grid", default="training", choices=("training", "native"),
                    help="training: score against the labels resized to data.size (default); native: resize the "
                         "predictions back to each case's own grid, as the engine does, and score against the label files")
    ae = sub.add_parser("ae", help="reconstruction Dice of a stage-1 autoencoder on the held-out test masks")
    _add_run_arguments(ae, "the training YAML (data section)")
    ae.add_argument("--stage1", required=True, help="stage-1 output folder (autoencoder.safetensors, split.json)")
    sm = sub.add_parser("summary", help="one-line JSON summary of a train_demo_gpu.sh output folder")
    sm.add_argument("outdir")
    args = p.parse_args(argv)
    if args.command in ("eval", "ae"):
        from .config import load_config

        cfg = load_config(args.config, args.overrides)
    if args.command == "eval":
        if any(n < 1 for n in args.samples):
            ev.error(f"--samples must be 1 or more, got {min(args.samples)}.")
        result = evaluate_folder(cfg, Path(args.model), args.device, args.seed, args.batch_size, args.cpu_check,
                                 samples=args.samples, config_file=args.config, grid=args.grid)
        write_json_atomic(Path(args.json), result)
        where = ", each case's own grid" if args.grid == "native" else ""
        print(_dice_line(f"single step, full decoder{where}", result["full"]))
        print(_missed_line(result["full"]))
        for key, scored in result.get("multi_sample", {}).items():
            print(_dice_line(f"single step, mean of {key.split('=')[1]} draws{where}", scored))
        if "fast_minus_full_dice" in result:
            print("fast - full decoder Dice: " + ", ".join(f"{c} {v:+.4f}" for c, v in result["fast_minus_full_dice"]["per_class"].items()))
        print(_reconstruction_line(result["autoencoder_reconstruction"]["test"]))
        for note in result.get("warnings", []):  # beside the scores they qualify, not only in the JSON
            print(f"warning: {note}")
        return 0
    if args.command == "ae":
        result = evaluate_autoencoder(cfg, Path(args.stage1), args.device)
        write_json_atomic(Path(args.json), result)
        rec = result["test"]
        print(_reconstruction_line(rec) + "; per class " + ", ".join(f"{c} {v['dice_mean']:.4f}" for c, v in rec["per_class"].items()))
        return 0
    summary = summarize_run(Path(args.outdir))
    write_json_atomic(Path(args.outdir) / "summary.json", summary)
    print(json.dumps(summary, separators=(",", ":")))
    return 0 if summary["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
