"""SDSegModel: the three trained parts of SDSeg held together, with the latent conventions."""

from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

from ..config import SDSegConfig
from .autoencoder_kl import build_autoencoder
from .condition_encoder import ConditionEncoder
from .fast_decoder import build_fast_decoder
from .unet import build_unet

__all__ = ["SDSegModel", "COMPONENTS"]

#: Component names, as used for weight files (``<name>.safetensors``) and state-dict prefixes.
#: ``fast_decoder`` exists only in models that carry the optional distilled decoder.
COMPONENTS = ("unet", "condition_encoder", "autoencoder", "fast_decoder")


class SDSegModel(nn.Module):
    """Autoencoder + vision encoder tau_theta + denoising UNet of one SDSeg model.

    Latent conventions (as in the official code): a mask latent is ``z = s * AE.encode(mask3)``
    with ``s = config.scale_factor``; decoding uses ``AE.decode(z / s)``. The condition latent
    ``tau_theta(image)`` is *not* scaled. The UNet input is ``cat([z_t, z_c], dim=1)``, noisy
    latent first.

    Args:
        config: architecture; weights are random until loaded.
    """

    def __init__(self, config: SDSegConfig) -> None:
        super().__init__()
        self.config = config
        self.autoencoder = build_autoencoder(config)
        self.condition_encoder = ConditionEncoder(config)
        self.unet = build_unet(config)
        self.fast_decoder = build_fast_decoder(config) if config.fast_decoder is not None else None

    # ------------------------------------------------------------------ the four operations
    def encode_condition(self, image: torch.Tensor) -> torch.Tensor:
        """tau_theta. image: (B, 3, H, W) in [-1, 1] -> (B, 4, H/8, W/8)."""
        return self.condition_encoder(image)

    def predict_noise(
        self,
        noisy_latent: torch.Tensor,
        condition: torch.Tensor,
        timestep: torch.Tensor,
        class_labels: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """epsilon-hat = UNet(cat[z_t, z_c], t, y).

        Args:
            noisy_latent: z_t, (B, 4, h, w).
            condition: z_c from :meth:`encode_condition`, (B, 4, h, w).
            timestep: (B,) integer timesteps in [0, T).
            class_labels: (B,) class indices for multi-class models, else ``None``.

        Returns:
            (B, 4, h, w) predicted noise, in the UNet's dtype.
        """
        sample = torch.cat([noisy_latent, condition], dim=1)
        return self.unet(sample, timestep, class_labels=class_labels).sample

    def encode_mask(self, mask3: torch.Tensor, generator: Optional[torch.Generator] = None, sample: bool = True) -> torch.Tensor:
        """Mask latent z0 = s * AE.encode(mask3).sample(). mask3: (B, 3, H, W) in {-1, +1}."""
        dist = self.autoencoder.encode(mask3).latent_dist
        z = dist.sample(generator=generator) if sample else dist.mode()
        return z * self.config.scale_factor

    def decode_latent(self, latent: torch.Tensor, fast: bool = False) -> torch.Tensor:
        """x = AE.decode(z / s): (B, 4, h, w) -> (B, 3, H, W), nominally in [-1, 1].

        With ``fast=True`` the optional distilled decoder approximates the same image from z.
        """
        if fast:
            if self.fast_decoder is None:
                raise ValueError("this model has no fast decoder; distil one (training/) or decode with the autoencoder")
            return self.fast_decoder(latent)
        return self.autoencoder.decode(latent / self.config.scale_factor).sample

    @staticmethod
    def soft_map(decoded: torch.Tensor) -> torch.Tensor:
        """Soft mask from a decoded image: clamp((x + 1) / 2, 0, 1) averaged over channels.

        Args:
            decoded: (B, 3, H, W). Returns: (B, H, W) float32 in [0, 1].
        """
        return ((decoded.float() + 1.0) / 2.0).clamp(0.0, 1.0).mean(dim=1)

    # ------------------------------------------------------------------ bookkeeping
    def set_scale_factor(self, scale_factor: float) -> None:
        """Store a new latent scale factor (set from the first training batch)."""
        self.config = self.config.replace(scale_factor=float(scale_factor))
        self.autoencoder.register_to_config(scaling_factor=float(scale_factor))

    @property
    def component_names(self) -> tuple:
        """Components present in this model, in storage order."""
        return tuple(name for name in COMPONENTS if getattr(self, name, None) is not None)

    def component(self, name: str) -> nn.Module:
        if name not in self.component_names:
            raise KeyError(f"unknown component {name!r}; this model has {self.component_names}")
        return getattr(self, name)

    def parameter_counts(self) -> Dict[str, int]:
        """Number of parameters of each component and in total."""
        counts = {name: sum(p.numel() for p in self.component(name).parameters()) for name in self.component_names}
        counts["total"] = sum(counts.values())
        return counts
