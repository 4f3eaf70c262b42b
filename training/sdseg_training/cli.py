"""Console commands: ``sdseg-train``, ``sdseg-train-ae``, ``sdseg-eval``, ``sdseg-export``.

Every command takes a YAML config and ``section.key=value`` overrides, e.g.::

    sdseg-train-ae configs/demo_ct_lite.yaml
    sdseg-train configs/demo_ct_lite.yaml train.max_steps=2000
    accelerate launch -m sdseg_training.train configs/kvasir.yaml train.mixed_precision=fp16
    sdseg-eval configs/demo_ct_lite.yaml --split test
    sdseg-export configs/demo_ct_lite.yaml --out Resources/Models/sdseg-demo-ct-lite
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from .config import load_config

__all__ = ["train_main", "train_ae_main", "eval_main", "export_main"]


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("config", help="training YAML (see training/configs/)")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. train.max_steps=100")
    return p


def train_ae_main(argv: Optional[List[str]] = None) -> int:
    """Stage 1: train the mask autoencoder."""
    from .autoencoder import train_autoencoder

    args = _parser("sdseg-train-ae", "Train the SDSeg mask autoencoder (stage 1).").parse_args(argv)
    metrics = train_autoencoder(load_config(args.config, args.overrides))
    print(json.dumps(metrics, indent=2))
    return 0


def train_main(argv: Optional[List[str]] = None) -> int:
    """Stage 2: train tau_theta and the UNet (single process, or under ``accelerate launch``)."""
    from .trainer import Stage2Trainer

    p = _parser("sdseg-train", "Train an SDSeg model (stage 2: tau_theta + UNet, frozen autoencoder).")
    p.add_argument("--resume", default="auto", help="'auto' (latest checkpoint in output_dir), 'none', or a checkpoint folder")
    args = p.parse_args(argv)
    trainer = Stage2Trainer(load_config(args.config, args.overrides), resume=args.resume)
    result = trainer.run()
    if trainer.accelerator.is_main_process:
        print(json.dumps(result, indent=2))
    return 0


def eval_main(argv: Optional[List[str]] = None) -> int:
    """Evaluate a run's best (or given) checkpoint on a split with the EMA UNet."""
    from .evaluate import evaluate_run

    p = _parser("sdseg-eval", "Evaluate an SDSeg run (Dice / IoU) on the test or validation split.")
    p.add_argument("--split", default="test", choices=("test", "val", "train"))
    p.add_argument("--checkpoint", default="best", help="'best', 'latest' or a checkpoint folder")
    p.add_argument("--steps", type=int, nargs="+", default=[1], help="inference steps (1 = single step; >1 = DDIM)")
    p.add_argument("--samples", type=int, nargs="+", default=[1],
                   help="noise draws averaged per slice (1 = the paper's single draw; N > 1 as `sdseg segment --samples N`)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the metrics to this JSON file")
    p.add_argument("--device", default="cpu", help="'cpu' (default), 'cuda' or 'auto' (CUDA when available)")
    args = p.parse_args(argv)
    if min(args.samples) < 1:
        p.error(f"--samples must be 1 or more, got {min(args.samples)}.")
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    result = evaluate_run(load_config(args.config, args.overrides), args.split, args.checkpoint, args.steps, args.seed, device,
                          samples=args.samples)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        from pathlib import Path

        from .data.splits import write_json_atomic

        write_json_atomic(Path(args.json), result)
    return 0


def export_main(argv: Optional[List[str]] = None) -> int:
    """Export a run to an engine model folder (fp16 safetensors + model card)."""
    from .export import export_run

    p = _parser("sdseg-export", "Export an SDSeg run to an engine model folder.")
    p.add_argument("--out", required=True, help="destination model folder")
    p.add_argument("--checkpoint", default="best")
    p.add_argument("--card", default=None, help="YAML/JSON with model-card fields (model_id, classes, licence, ...)")
    p.add_argument("--metrics", default=None, help="JSON of test metrics to record in the card")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    folder = export_run(load_config(args.config, args.overrides), args.out, args.checkpoint, args.card, args.metrics, args.overwrite)
    print(folder)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(train_main())
