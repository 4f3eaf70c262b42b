"""The trainable vision encoder tau_theta: an autoencoder-style encoder and a 1x1 convolution."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from ..config import SDSegConfig

__all__ = ["ConditionEncoder"]


class ConditionEncoder(nn.Module):
    """tau_theta: image (B, 3, H, W) in [-1, 1] -> condition latent (B, 4, H/f, W/f).

    The encoder has the architecture of the kl-f8 autoencoder's encoder with ``double_z`` (8
    output channels: all of them, the "mean" and "log-variance" halves alike, are used), followed
    by a new 1x1 convolution 8 -> 4. There is no quant conv and no scale factor on this path.
    Dropout (0.2 in the paper) sits in every ResNet block and acts only in training mode.

    Attributes:
        encoder: ``diffusers.models.autoencoders.vae.Encoder``; its keys match an
            ``AutoencoderKL.encoder``, so kl-f8 encoder weights load into it directly.
        out: ``nn.Conv2d(2 * latent_channels, latent_channels, 1)``.
    """

    def __init__(self, config: "SDSegConfig") -> None:
        super().__init__()
        from diffusers.models.autoencoders.vae import Encoder

        ce = config.condition_encoder
        latent = config.latent_channels
        self.encoder = Encoder(
            in_channels=ce.in_channels,
            out_channels=latent,
            down_block_types=("DownEncoderBlock2D",) * len(ce.block_out_channels),
            block_out_channels=tuple(ce.block_out_channels),
            layers_per_block=ce.layers_per_block,
            norm_num_groups=ce.norm_num_groups,
            act_fn="silu",
            double_z=True,
        )
        self.out = nn.Conv2d(2 * latent, latent, kernel_size=1)
        self.set_dropout(ce.dropout)

    def set_dropout(self, p: float) -> None:
        """Set the dropout probability of every ResNet block (diffusers' Encoder has no argument for it).

        Only the ResNet blocks: LDM's encoder (and so the official tau_theta) has dropout there and
        none in its attention block, whose diffusers counterpart (``to_out[1]``) stays at 0.
        """
        for name, module in self.encoder.named_modules():
            if isinstance(module, nn.Dropout) and ".resnets." in f".{name}.":
                module.p = float(p)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Args: image (B, 3, H, W) in [-1, 1]. Returns: (B, latent_channels, H/f, W/f)."""
        return self.out(self.encoder(image))
