"""Tiny real SDSeg components for engine tests (the ``tiny`` preset: 2 levels, 8 channels, 32x32)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from SDSegLogic.config import SDSegConfig, UNetConfig, preset
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.model_card import IntensityMapping, ModelCard, SegmentClass
from SDSegLogic.models import SDSegModel


def tiny_config(num_classes: int | None = None, scale_factor: float = 0.5) -> SDSegConfig:
    cfg = preset("tiny", scale_factor=scale_factor)
    if num_classes is not None:
        un = cfg.unet
        cfg = cfg.replace(unet=UNetConfig(**{**un.__dict__, "num_classes": num_classes}))
    return cfg


def tiny_model(num_classes: int | None = None, seed: int = 0, std: float = 0.2) -> SDSegModel:
    """A tiny model with non-trivial random weights (so that heads and channels matter)."""
    torch.manual_seed(seed)
    model = SDSegModel(tiny_config(num_classes)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim > 1:
                param.normal_(0.0, std)
    return model


def tiny_card(num_classes: int | None = None, model_id: str = "tiny-test") -> ModelCard:
    if num_classes is None:
        classes = (SegmentClass("liver", 1, (0.86, 0.45, 0.39), {"category": ("SCT", "123037004", "Anatomical Structure"),
                                                                    "type": ("SCT", "10200004", "Liver")}),)
    else:
        classes = tuple(SegmentClass(f"organ {k}", k, (0.1 * k, 0.5, 0.5)) for k in range(1, num_classes))
    return ModelCard(
        model_id=model_id,
        version="1.0.0",
        task="test",
        modality="CT",
        intensity=IntensityMapping("window", -125.0, 275.0),
        training_size=32,
        classes=classes,
    )


def random_slices(batch: int = 2, size: int = 32, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=gen) * 2 - 1


def ramp_volume():
    """A float32 (3, 20, 24) (K, J, I) ramp from -200 to 300 and its axis-aligned geometry (0.8 x 0.8 x 2.0 mm)."""
    array = np.linspace(-200, 300, 3 * 20 * 24, dtype=np.float32).reshape(3, 20, 24)
    return array, ImageGeometry((0.8, 0.8, 2.0), (0.0, 0.0, 0.0), np.eye(3), (24, 20, 3))


def tiny_cpu_pipelines() -> dict:
    """CPU pipelines of a binary and a 4-class tiny model (fixed seeds), keyed "binary" / "multi"."""
    from SDSegLogic.pipeline import SDSegPipeline

    return {
        "binary": SDSegPipeline(tiny_model(seed=1), tiny_card(), device="cpu"),
        "multi": SDSegPipeline(tiny_model(num_classes=4, seed=2), tiny_card(num_classes=4), device="cpu"),
    }


def segment_quietly(*args, **kwargs):
    """``segment_array`` with its warnings (tiny models, tiny volumes) silenced."""
    from SDSegLogic.segment import segment_array

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return segment_array(*args, **kwargs)
