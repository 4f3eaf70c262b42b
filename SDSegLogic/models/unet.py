"""The denoising UNet: the official LDM UNet expressed as a diffusers ``UNet2DModel``.

Mapping (verified numerically against the LDM ``openaimodel.UNetModel``):

* ResBlock with ``use_scale_shift_norm`` -> ``ResnetBlock2D(time_embedding_norm="scale_shift")``;
* ``resblock_updown`` -> ``downsample_type = upsample_type = "resnet"``; a level without attention
  uses ``ResnetDownsampleBlock2D`` / ``ResnetUpsampleBlock2D`` so its resampling is a ResBlock too;
* LDM sinusoidal time embedding [cos, sin] -> ``flip_sin_to_cos=True, freq_shift=0``;
* mid block: ResBlock, attention (with its own GroupNorm: ``attn_norm_num_groups``), ResBlock;
* class embedding ``label_emb`` -> ``num_class_embeds`` (added to the time embedding);
* **8 heads at every level**: diffusers fixes the head *size*, the official model the head
  *count*, so :func:`set_attention_heads` rewrites every attention layer after construction.
  The change is not stored by diffusers' config; our loader always builds through
  :func:`build_unet`, so it is re-applied on every load.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from diffusers import UNet2DModel

    from ..config import SDSegConfig

__all__ = ["build_unet", "unet_kwargs", "set_attention_heads"]


def unet_kwargs(config: "SDSegConfig") -> dict:
    """Constructor arguments of ``UNet2DModel`` for ``config`` (heads are fixed afterwards)."""
    un = config.unet
    latent = config.latent_channels
    down = tuple("AttnDownBlock2D" if attn else "ResnetDownsampleBlock2D" for attn in un.attention_levels)
    up = tuple("AttnUpBlock2D" if attn else "ResnetUpsampleBlock2D" for attn in reversed(un.attention_levels))
    return dict(
        sample_size=config.latent_size,
        in_channels=2 * latent,  # noisy mask latent first, image condition second
        out_channels=latent,
        block_out_channels=tuple(un.block_out_channels),
        layers_per_block=un.layers_per_block,
        down_block_types=down,
        up_block_types=up,
        downsample_type="resnet",
        upsample_type="resnet",
        resnet_time_scale_shift="scale_shift",
        # a width dividing every level, so each attention is as wide as its level (LDM: qkv is 3C x C); the head
        # count it implies is replaced by set_attention_heads. block_out_channels[0] // heads left levels it does not
        # divide narrower: (24, 40) with 4 heads gave the 40-channel level 36-wide attention (36 = 4 x 9 <= 40).
        attention_head_dim=math.gcd(*un.block_out_channels),
        attn_norm_num_groups=un.norm_num_groups,
        norm_num_groups=un.norm_num_groups,
        norm_eps=1e-5,
        act_fn="silu",
        time_embedding_type="positional",
        flip_sin_to_cos=True,
        freq_shift=0,
        mid_block_type="UNetMidBlock2D",
        add_attention=True,
        dropout=un.dropout,
        num_class_embeds=un.num_classes,
    )


def set_attention_heads(model: nn.Module, heads: int) -> int:
    """Give every diffusers ``Attention`` layer in ``model`` exactly ``heads`` heads.

    Args:
        model: any module; its ``Attention`` submodules are changed in place.
        heads: head count; each layer's head size becomes ``inner_dim // heads``.

    Returns:
        The number of attention layers changed.
    """
    from diffusers.models.attention_processor import Attention

    changed = 0
    for module in model.modules():
        if isinstance(module, Attention):
            if module.inner_dim % heads:
                raise ValueError(f"attention width {module.inner_dim} is not divisible by {heads} heads")
            module.heads = heads
            module.sliceable_head_dim = heads
            module.scale = (module.inner_dim // heads) ** -0.5
            changed += 1
    return changed


def build_unet(config: "SDSegConfig") -> "UNet2DModel":
    """Build the denoising UNet of ``config`` with random weights and the official head count."""
    from diffusers import UNet2DModel

    unet = UNet2DModel(**unet_kwargs(config))
    set_attention_heads(unet, config.unet.attention_heads)
    return unet
