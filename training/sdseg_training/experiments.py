"""The RESULTS.md measurements: sampler steps and stability over noise seeds of one trained run.

``python -m sdseg_training.experiments CONFIG.yaml [overrides] --split test --steps 1 10 50 --seeds 10 --json out.json``

* **steps**: Dice/IoU for each number of inference steps (1 = SDSeg's single step, S > 1 = DDIM
  with S steps, eta 0), all with noise seed 0.
* **stability** (single step, seeds 0..N-1): the Dice of each seed; the pairwise agreement
  between the binary predictions of two seeds (Dice of prediction vs prediction, per image or
  volume, averaged over pairs); the pairwise MS-SSIM between the soft foreground maps (MONAI
  ``MultiScaleSSIMMetric``, data range 1, kernel 7, as many scales as the size allows).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from .config import load_config
from .data import load_data
from .data.splits import write_json_atomic
from .errors import ResumeError
from .evaluate import check_checkpoint_classes, checkpoint_folder, model_from_checkpoint, predict_slices, score_predictions
from .metrics import dice_iou
from .run_compat import other_data_note
from .split_leak import autoencoder_test_overlap, run_split_path

__all__ = ["run_experiments", "ms_ssim_pairs"]


def ms_ssim_pairs(maps: List[np.ndarray]) -> float:
    """Mean MS-SSIM over all pairs of soft maps, each (N, S, S) float in [0, 1]."""
    from monai.metrics import MultiScaleSSIMMetric

    size = maps[0].shape[-1]
    scales = 1
    while scales < 5 and (7 - 1) * 2 ** scales < size:
        scales += 1
    weights = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)[:scales]
    metric = MultiScaleSSIMMetric(spatial_dims=2, data_range=1.0, kernel_size=7, weights=tuple(w / sum(weights) for w in weights))
    values = []
    for a, b in itertools.combinations(maps, 2):
        values.append(float(metric(torch.from_numpy(a)[:, None], torch.from_numpy(b)[:, None]).mean()))
    return float(np.mean(values))


def _agreement(preds: List[np.ndarray], slices, multiclass: bool, num_classes: int) -> float:
    """Mean pairwise Dice between two seeds' predictions (per case, per class)."""
    cases = slices.cases()
    scores = []
    classes = range(1, num_classes + 1) if multiclass else [1]
    for a, b in itertools.combinations(preds, 2):
        for cid, idx in cases.items():
            vol = slices.is_volume.get(cid, False)
            for c in classes:
                pa, pb = torch.from_numpy(a[idx] == c), torch.from_numpy(b[idx] == c)
                if vol:
                    pa, pb = pa[None], pb[None]
                scores.extend(dice_iou(pa, pb)[0].tolist())
    return float(np.mean(scores))


def run_experiments(cfg, split: str = "test", checkpoint: str = "best", steps: Sequence[int] = (1, 10, 50), seeds: int = 10) -> Dict[str, Any]:
    """Score a checkpoint on ``split`` for each number of steps, and its stability over ``seeds`` (module docstring).

    Returns:
        The result; ``warnings`` (also issued) when the data differs from the run's (:func:`~.run_compat.other_data_note`)
        or the stage-1 autoencoder saw test masks, as ``sdseg-eval`` reports them.

    Raises:
        ResumeError: ``split`` holds no case in the run's split file.
    """
    from SDSegLogic.pipeline import SDSegPipeline

    if cfg.train.num_threads:
        torch.set_num_threads(int(cfg.train.num_threads))
    folder = checkpoint_folder(Path(cfg.train.output_dir), checkpoint)
    info, _, sets = load_data(cfg.data, Path(cfg.train.output_dir), parts=(split,))
    if split not in sets:
        raise ResumeError(f"the {split!r} split is empty in {run_split_path(cfg)}; choose another --split, or a run whose "
                          f"split holds {split} cases.")
    data = sets[split]
    model = model_from_checkpoint(cfg, folder)
    check_checkpoint_classes(cfg, model, info.class_names, folder, "evaluate")
    pipe = SDSegPipeline(model, None, device="cpu", dtype=torch.float32)
    out: Dict[str, Any] = {"run": str(cfg.train.output_dir), "checkpoint": folder.name, "checkpoint_step": model.training_state["step"],
                           "split": split, "items": len(data), "steps": {}}
    leak = autoencoder_test_overlap(cfg.model.autoencoder, run_split_path(cfg)) if split == "test" else None
    for note in (other_data_note(folder, model.training_state, cfg), leak):  # as sdseg-eval reports them
        if note:
            warnings.warn(note, stacklevel=2)
            out.setdefault("warnings", []).append(note)
    for s in steps:
        t0 = time.time()
        pred = predict_slices(pipe, data, int(s), seed=0)
        scored = score_predictions(data, pred["labels"], info.class_names, cfg.data.multiclass)
        out["steps"][str(s)] = {"dice": scored["dice"], "iou": scored["iou"], "per_class": scored["per_class"],
                                "seconds": round(time.time() - t0, 1)}
    if seeds > 1:
        labels, soft, dice = [], [], []
        for seed in range(seeds):
            pred = predict_slices(pipe, data, 1, seed=seed)
            labels.append(pred["labels"])
            soft.append(pred["foreground"])
            dice.append(score_predictions(data, pred["labels"], info.class_names, cfg.data.multiclass)["dice"])
        out["stability"] = {
            "seeds": seeds, "dice_per_seed": dice, "dice_mean": float(np.mean(dice)), "dice_std": float(np.std(dice)),
            "pairwise_prediction_dice": _agreement(labels, data, cfg.data.multiclass, len(info.class_names)),
            "pairwise_ms_ssim_soft_maps": ms_ssim_pairs(soft),
        }
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """The command line (module docstring); errors are reported as ``sdseg-eval`` reports them (one line, exit code)."""
    from .cli import _CountsThenOverrides, _finite, _json, _parser, _run

    p = _parser("python -m sdseg_training.experiments", __doc__.splitlines()[0], "train.output_dir=runs/b")
    p.add_argument("--split", default="test", choices=("test", "val", "train"))
    p.add_argument("--checkpoint", default="best", help="'best', 'latest' or a checkpoint folder")
    p.add_argument("--steps", nargs="+", default=[1, 10, 50], action=_CountsThenOverrides, metavar="N",
                   help="inference steps to score (1 = single step; >1 = DDIM); section.key=value after them are overrides")
    p.add_argument("--seeds", type=int, default=10, help="noise seeds of the stability measurement (1 or less: none)")
    p.add_argument("--json", default=None, help="also write the result to this JSON file")
    p.set_defaults(late_overrides=[])
    tokens = list(sys.argv[1:] if argv is None else argv)

    def body(args: argparse.Namespace) -> int:
        # in the order given, wherever they stood: a later value of a key wins, as in load_config (as sdseg-eval)
        overrides = sorted(args.overrides + args.late_overrides, key=lambda t: tokens.index(t) if t in tokens else len(tokens))
        result = _finite(run_experiments(load_config(args.config, overrides), args.split, args.checkpoint, args.steps, args.seeds))
        print(_json(result))
        if args.json:
            write_json_atomic(Path(args.json), result)
        return 0

    return _run(p, argv, body, single_process=True)


if __name__ == "__main__":
    sys.exit(main())
