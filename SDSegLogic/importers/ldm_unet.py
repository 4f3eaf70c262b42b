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

_UNET_PREFIX = "model.diffusion_model."


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

    As the official ``SDSeg.init_from_ckpt`` (``load_only_unet: true``) does, only the checkpoint's
    training weights ``model.diffusion_model.*`` are taken; its EMA copy ``model_ema.*`` is ignored.

    Args:
        path: an LDM checkpoint (``model.diffusion_model.*`` keys) or a bare LDM UNet state dict,
            ``.ckpt``/``.pt``/``.safetensors``.
        config: the SDSeg architecture to initialise (paper preset for LSUN-Churches).

    Returns:
        ``{name: tensor}`` for ``model.unet``, every tensor of it; ``conv_in.weight`` widened from 4 input
        channels to ``2 * latent_channels`` with zeros (the condition starts ignored). For a multi-class
        ``config`` and an unconditional checkpoint (no ``label_emb``), ``class_embedding.weight`` is drawn
        fresh from N(0, 1) with torch's global generator, as ``nn.Embedding`` initialises it: the official
        multi-class configs start from LSUN-Churches with "no pretrain weight" for the class embedding.

    Raises:
        CheckpointError: unreadable file, or no LDM UNet in it.
        WeightsMismatchError: UNet keys the SDSeg UNet does not use (another architecture).
    """
    state = read_state_dict(Path(path))
    unet = strip_prefix(state, _UNET_PREFIX) or {k: v for k, v in state.items() if not k.startswith("model_ema.")}
    if "input_blocks.0.0.weight" not in unet:
        raise CheckpointError(f"{path}: no LDM UNet weights found (expected '{_UNET_PREFIX}input_blocks.0.0.weight'); "
                              "give the LDM checkpoint (e.g. lsun_churches256/model.ckpt) or a bare LDM UNet state dict.")
    converted, unused = ldm_unet_to_diffusers(unet, config)
    unused = [k for k in unused if not k.startswith("label_emb")]
    if unused:
        raise WeightsMismatchError(f"{path}: UNet keys not used by the SDSeg UNet: {unused[:8]}; is this an LDM "
                                   "openaimodel UNet of the paper's architecture (model.preset=paper)?")
    converted["conv_in.weight"] = widen_input_conv(converted["conv_in.weight"], 2 * config.latent_channels)
    if config.unet.num_classes is not None and "class_embedding.weight" not in converted:
        converted["class_embedding.weight"] = _fresh_class_embedding(config.unet.num_classes, converted)
    return converted


def _fresh_class_embedding(num_classes: int, converted: Dict[str, "torch.Tensor"]) -> "torch.Tensor":
    """(num_classes, time-embedding width) drawn from N(0, 1), as ``nn.Embedding`` and LDM's ``label_emb`` start.

    The width is the time embedding's output (the class embedding is added to it), read from the checkpoint.
    """
    import torch

    time_out = converted["time_embedding.linear_2.weight"]
    return torch.nn.init.normal_(torch.empty(num_classes, time_out.shape[0], dtype=time_out.dtype))
