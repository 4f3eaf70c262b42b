"""Initialise the SDSeg UNet from an unconditional LDM UNet (LSUN-Churches-256 layout)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Dict, Union

from ..errors import CheckpointError, WeightsMismatchError
from .key_maps import ldm_unet_to_diffusers
from .legacy_files import read_state_dict, strip_prefix

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..config import SDSegConfig

__all__ = ["load_ldm_unet_init_state", "widen_input_conv"]


def widen_input_conv(weight: "torch.Tensor", in_channels: int) -> "torch.Tensor":
    """Zero-fill extra input channels of the first conv: (C, 4, 3, 3) -> (C, in_channels, 3, 3).

    The noisy latent keeps its pretrained filters; the condition channels start at zero, so the
    initial network ignores the condition exactly as the official initialisation does.
    """
    import torch

    if weight.shape[1] > in_channels:
        raise WeightsMismatchError(f"first conv has {weight.shape[1]} input channels, more than the model's {in_channels}.")
    extra = torch.zeros(weight.shape[0], in_channels - weight.shape[1], *weight.shape[2:], dtype=weight.dtype)
    return torch.cat([weight, extra], dim=1)


def load_ldm_unet_init_state(path: Union[str, Path], config: "SDSegConfig") -> Dict[str, "torch.Tensor"]:
    """UNet2DModel state dict for training initialisation from an LDM UNet checkpoint.

    Args:
        path: an LDM checkpoint (``model.diffusion_model.*`` keys, EMA weights used when present
            as ``model_ema.*``) or a bare UNet state dict, ``.ckpt``/``.pt``/``.safetensors``.
        config: the SDSeg architecture to initialise (paper preset for LSUN-Churches).

    Returns:
        ``{name: tensor}`` for ``model.unet``; ``conv_in.weight`` widened from 4 to 8 channels.
    """
    state = read_state_dict(Path(path))
    unet = strip_prefix(state, "model.diffusion_model.") or state
    ema = {k[len("model_ema.diffusion_model"):]: v for k, v in state.items() if k.startswith("model_ema.diffusion_model")}
    if ema:
        flat = {k.replace(".", ""): k for k in unet}
        unet = {flat[k]: v for k, v in ema.items() if k in flat} or unet
    if "input_blocks.0.0.weight" not in unet:
        raise CheckpointError(f"{path}: no LDM UNet weights found (expected 'model.diffusion_model.input_blocks.0.0.weight').")
    converted, unused = ldm_unet_to_diffusers(unet, config)
    unused = [k for k in unused if not k.startswith("label_emb")]
    if unused:
        raise WeightsMismatchError(f"{path}: UNet keys not used by the SDSeg UNet: {unused[:8]}; is this an LDM openaimodel UNet?")
    converted["conv_in.weight"] = widen_input_conv(converted["conv_in.weight"], 2 * config.latent_channels)
    return converted
