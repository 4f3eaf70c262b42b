"""The frozen mask autoencoder: diffusers ``AutoencoderKL`` in the LDM kl-f8 configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from diffusers import AutoencoderKL

    from ..config import SDSegConfig

__all__ = ["build_autoencoder", "autoencoder_kwargs"]


def autoencoder_kwargs(config: "SDSegConfig") -> dict:
    """Constructor arguments of ``AutoencoderKL`` for ``config``.

    With the default (paper) config these are the Stable Diffusion v1 / LDM kl-f8 arguments:
    channels (128, 256, 512, 512), 2 ResNet blocks per level, mid-block attention, 4 latent
    channels, quant/post-quant convs; 83,653,863 parameters.
    """
    ae = config.autoencoder
    levels = len(ae.block_out_channels)
    return dict(
        in_channels=ae.in_channels,
        out_channels=ae.in_channels,
        latent_channels=ae.latent_channels,
        block_out_channels=tuple(ae.block_out_channels),
        layers_per_block=ae.layers_per_block,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        act_fn="silu",
        norm_num_groups=ae.norm_num_groups,
        sample_size=config.sample_size,
        scaling_factor=float(config.scale_factor),
        use_quant_conv=True,
        use_post_quant_conv=True,
        mid_block_add_attention=True,
    )


def build_autoencoder(config: "SDSegConfig") -> "AutoencoderKL":
    """Build the autoencoder of ``config`` with random weights (load weights separately)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(**autoencoder_kwargs(config))
