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
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from .config import load_config
from .data import load_data
from .data.splits import write_json_atomic
from .evaluate import check_checkpoint_classes, checkpoint_folder, model_from_checkpoint, predict_slices, score_predictions
from .metrics import dice_iou

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
    from SDSegLogic.pipeline import SDSegPipeline

    if cfg.train.num_threads:
        torch.set_num_threads(int(cfg.train.num_threads))
    folder = checkpoint_folder(Path(cfg.train.output_dir), checkpoint)
    info, _, sets = load_data(cfg.data, Path(cfg.train.output_dir), parts=(split,))
    data = sets[split]
    model = model_from_checkpoint(cfg, folder)
    check_checkpoint_classes(cfg, model, info.class_names, folder, "evaluate")
    pipe = SDSegPipeline(model, None, device="cpu", dtype=torch.float32)
    out: Dict[str, Any] = {"run": str(cfg.train.output_dir), "checkpoint": folder.name, "checkpoint_step": model.training_state["step"],
                           "split": split, "items": len(data), "steps": {}}
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
    p = argparse.ArgumentParser(prog="python -m sdseg_training.experiments", description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--split", default="test")
    p.add_argument("--checkpoint", default="best")
    p.add_argument("--steps", type=int, nargs="+", default=[1, 10, 50])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    result = run_experiments(load_config(args.config, args.overrides), args.split, args.checkpoint, args.steps, args.seeds)
    print(json.dumps(result, indent=2))
    if args.json:
        write_json_atomic(Path(args.json), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
