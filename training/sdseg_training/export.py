"""Export a trained run to an engine model folder (``SDSegLogic.model_folder``).

Only what inference needs is written: tau_theta, the EMA UNet, the scale factor (in
``config.json``) and the autoencoder once, as fp16 safetensors (``variant="fp16"``); the model
card gets the data contract (channels, intensity mapping, orientation, size), the classes, and a
``training`` record (data, split sizes, steps, validation and test metrics). The sha256 of every
weight file is added by ``save_model_folder``; the folder is loaded back and run once to verify.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch

from SDSegLogic.model_card import IntensityMapping, ModelCard, SegmentClass
from SDSegLogic.model_folder import load_model_folder, save_model_folder

from .data import discover
from .errors import TrainingConfigError
from .evaluate import checkpoint_folder, model_from_checkpoint

__all__ = ["build_card", "export_run"]


def _read_mapping(path: Optional[str]) -> Dict[str, Any]:
    if not path:
        return {}
    p = Path(path)
    if not p.is_file():
        raise TrainingConfigError(f"{p}: model-card file not found.")
    text = p.read_text(encoding="utf-8")
    if p.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text) or {}
    return json.loads(text)


def build_card(cfg, info, model, fields: Dict[str, Any], training: Dict[str, Any]) -> ModelCard:
    """Model card from the config's data contract, the card fields file and a training record."""
    fields = dict(fields)
    for key in ("authors", "references"):
        if key in fields:
            fields[key] = tuple(fields[key])
    class_specs = fields.pop("classes", None)
    if class_specs is None:
        class_specs = [{"name": n} for n in info.class_names]
    expected = len(info.class_names) if cfg.data.multiclass else 1
    if len(class_specs) != expected:
        raise TrainingConfigError(f"the card lists {len(class_specs)} classes but the model has {expected} foreground class(es).")
    classes = tuple(
        SegmentClass(name=str(c["name"]), label_value=int(c.get("label_value", i)), color=tuple(float(x) for x in c.get("color", (0.5, 0.5, 0.5))),
                     terminology={k: tuple(v) for k, v in c.get("terminology", {}).items()})
        for i, c in enumerate(class_specs, start=1)
    )
    intensity = IntensityMapping(**{"low": None, "high": None, **info.intensity}) if info.intensity.get("kind") != "window" else IntensityMapping(**info.intensity)
    return ModelCard(
        model_id=str(fields.pop("model_id", Path(cfg.train.output_dir).name)),
        input_channels=int(info.channels), intensity=intensity, orientation=str(fields.pop("orientation", "LPS")),
        training_size=int(model.config.sample_size), classes=classes, training={**fields.pop("training", {}), **training}, **fields,
    )


def export_run(cfg, out: str, checkpoint: str = "best", card_path: Optional[str] = None, metrics_path: Optional[str] = None,
               overwrite: bool = False) -> Path:
    """Write ``out`` from a run's checkpoint; returns the folder."""
    folder = checkpoint_folder(Path(cfg.train.output_dir), checkpoint)
    model = model_from_checkpoint(cfg, folder)
    info = discover(cfg.data)
    state = model.training_state
    split_path = Path(cfg.data.split_file) if cfg.data.split_file else Path(cfg.train.output_dir) / "split.json"
    split = json.loads(split_path.read_text(encoding="utf-8")) if split_path.is_file() else {}
    training: Dict[str, Any] = {
        "data": cfg.data.kind, "split_sizes": {k: len(split.get(k, [])) for k in ("train", "val", "test")},
        "steps": state["step"], "global_batch": cfg.train.batch_size * cfg.train.grad_accum * state.get("num_processes", 1),
        "lambda_latent": cfg.train.lambda_latent, "scale_factor": state["scale_factor"], "best_validation": state.get("best"),
        "preset": cfg.model.preset, "exported_from": folder.name,
    }
    if "slices" in split:
        training["slices"] = {k: len(v) for k, v in split["slices"].items()}
        training["test_slices"] = [min(split["slices"]["test"]), max(split["slices"]["test"])]
    if cfg.model.autoencoder:
        from .modeling import read_autoencoder_meta

        meta = read_autoencoder_meta(Path(cfg.model.autoencoder))
        if meta:
            training["autoencoder"] = {"source": "stage 1 (this package)", "steps": meta.get("steps_total", meta.get("steps")),
                                       "heldout_reconstruction": meta.get("heldout_reconstruction")}
    if metrics_path:
        training["test_metrics"] = _summary(_read_mapping(metrics_path))
    card = build_card(cfg, info, model, _read_mapping(card_path), training)
    dest = save_model_folder(out, model, card, variant="fp16", overwrite=overwrite)
    _publishable(dest)
    _smoke_load(dest)
    return dest


def _summary(metrics: Dict[str, Any]) -> Dict[str, Any]:
    """Keep an sdseg-eval result small for the card: per-class Dice/IoU per number of steps."""
    if "results" not in metrics:
        return metrics
    out: Dict[str, Any] = {"split": metrics.get("split"), "checkpoint_step": metrics.get("step"), "seed": metrics.get("seed")}
    for key, res in metrics["results"].items():
        out[key] = {"dice": round(res["dice"], 4), "iou": round(res["iou"], 4),
                    "per_class": {c: {"dice": round(v["dice"], 4), "iou": round(v["iou"], 4)} for c, v in res["per_class"].items()}}
    return out


def _publishable(folder: Path) -> None:
    """The engine assembles folders in a private temp dir (mode 0700); make the result world-readable."""
    folder.chmod(0o755)
    for p in folder.iterdir():
        if p.is_file():
            p.chmod(0o644)


def _smoke_load(folder: Path) -> None:
    """Load the exported folder with the engine and run one slice (catches a broken export)."""
    from SDSegLogic.pipeline import SDSegPipeline

    model, card = load_model_folder(folder)
    pipe = SDSegPipeline(model, card, device="cpu", dtype=torch.float32)
    size = model.config.sample_size
    out = pipe(np.zeros((1, 3, size, size), np.float32), seed=0)
    if not torch.isfinite(out.probabilities).all():
        raise TrainingConfigError(f"{folder}: the exported model produces non-finite probabilities.")
