"""Every attention layer of the UNet is as wide as its level, with ``attention_heads`` heads (as in LDM).

The diffusers head size was ``block_out_channels[0] // attention_heads``, which need not divide the
other levels: with channels (24, 40) and 4 heads the 40-channel level got attention 36 wide (4 heads
of 9, where LDM has 4 heads of 10 and a 3C x C qkv), so an official checkpoint of that shape could
not load and our own training trained another network; with (48, 64) and 8 heads, a config that
passes validation did not build at all (a bare ValueError).
"""

from __future__ import annotations

import pytest
import torch
from diffusers.models.attention_processor import Attention

from SDSegLogic.config import UNetConfig, preset
from SDSegLogic.importers.key_maps import diffusers_unet_to_ldm
from SDSegLogic.models.unet import build_unet


def _config(channels, heads):
    return preset("tiny").replace(unet=UNetConfig(block_out_channels=channels, attention_levels=(True, True),
                                                  layers_per_block=1, attention_heads=heads, norm_num_groups=4))


@pytest.mark.parametrize("channels, heads", [((24, 40), 4), ((48, 64), 8), ((8, 16), 8)])
def test_each_attention_is_as_wide_as_its_level_with_the_configured_heads(channels, heads):
    config = _config(channels, heads)
    torch.manual_seed(0)
    unet = build_unet(config).eval()
    layers = [m for m in unet.modules() if isinstance(m, Attention)]
    assert len(layers) == 7  # 2 down + 4 up + mid
    for layer in layers:
        width = layer.to_q.in_features
        assert width in channels and layer.heads == heads
        for linear in (layer.to_q, layer.to_k, layer.to_v, layer.to_out[0]):
            assert tuple(linear.weight.shape) == (width, width)
    # in the official layout each attention's qkv is 3C x C x 1, as LDM's AttentionBlock stores it
    official = diffusers_unet_to_ldm(unet.state_dict(), config)
    for key, value in official.items():
        if key.endswith(".qkv.weight"):
            assert value.shape[0] == 3 * value.shape[1] and value.shape[1] in channels
    latent = torch.randn(1, 8, 16, 16)
    with torch.no_grad():
        eps = unet(latent, torch.tensor([999])).sample
    assert eps.shape == (1, 4, 16, 16) and torch.isfinite(eps).all()
