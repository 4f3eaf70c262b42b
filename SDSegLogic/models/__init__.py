"""Network architectures: one building block per module, ``nn.Module`` only (no I/O, no data)."""

from __future__ import annotations

from .autoencoder_kl import build_autoencoder
from .condition_encoder import ConditionEncoder
from .sdseg_model import SDSegModel
from .unet import build_unet, set_attention_heads

__all__ = ["build_autoencoder", "ConditionEncoder", "SDSegModel", "build_unet", "set_attention_heads"]
