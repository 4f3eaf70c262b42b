"""Optional fast mask decoder, distilled from the frozen autoencoder decoder (beyond the paper).

The kl-f8 decoder is two thirds of SDSeg's compute (622 of 937 GFLOP per 256 px slice). Mask
latents are far simpler than natural-image latents, so a small convolution-only decoder
(diffusers ``DecoderTiny``, the TAESD architecture, without normalisation or attention) can
reproduce the decoded mask closely. It is opt-in: the model card says whether a model has one
and how much Dice it costs, and the faithful autoencoder decoder stays the default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from ..config import SDSegConfig

__all__ = ["build_fast_decoder"]


def build_fast_decoder(config: "SDSegConfig") -> "nn.Module":
    """``DecoderTiny``: scaled mask latent z (B, 4, h, w) -> image (B, 3, h*f, w*f) in about [-1, 1]."""
    from diffusers.models.autoencoders.vae import DecoderTiny

    fd = config.fast_decoder
    return DecoderTiny(
        in_channels=config.latent_channels,
        out_channels=config.autoencoder.in_channels,
        num_blocks=tuple(fd.num_blocks),
        block_out_channels=tuple(fd.block_out_channels),
        upsampling_scaling_factor=2,
        act_fn="relu",
        upsample_fn="nearest",
    )
