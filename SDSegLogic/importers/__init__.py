"""Importers for legacy weights: official SDSeg checkpoints, kl-f8 autoencoders, LDM UNets.

Legacy pickle files are only ever opened with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

from .autoencoder import load_autoencoder_state
from .key_maps import diffusers_unet_to_ldm, diffusers_vae_to_ldm, ldm_unet_to_diffusers, ldm_vae_to_diffusers
from .ldm_unet import load_ldm_unet_init_state, widen_input_conv
from .official_checkpoint import ImportReport, convert_official_state, import_official_checkpoint

__all__ = [
    "ImportReport",
    "convert_official_state",
    "import_official_checkpoint",
    "load_autoencoder_state",
    "load_ldm_unet_init_state",
    "widen_input_conv",
    "ldm_unet_to_diffusers",
    "diffusers_unet_to_ldm",
    "ldm_vae_to_diffusers",
    "diffusers_vae_to_ldm",
]
