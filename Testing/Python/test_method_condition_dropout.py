"""The vision encoder tau_theta drops out where LDM's encoder does: in its ResNet blocks, not in attention.

The spec gives tau_theta dropout 0.2; LDM's ``Encoder`` applies it inside ``ResnetBlock`` only
(its ``AttnBlock`` has no dropout). diffusers' mid-block attention carries a ``Dropout`` module
(``to_out[1]``), which used to be set to 0.2 as well, so training dropped attention outputs the
official model never dropped. A real tiny encoder; training mode only (inference has no dropout).
"""

from __future__ import annotations

import torch

from SDSegLogic.config import preset
from SDSegLogic.models.condition_encoder import ConditionEncoder


def test_dropout_is_in_the_resnet_blocks_only():
    config = preset("tiny")
    encoder = ConditionEncoder(config)
    rates = {name: module.p for name, module in encoder.encoder.named_modules() if isinstance(module, torch.nn.Dropout)}
    resnets = {name: p for name, p in rates.items() if ".resnets." in f".{name}."}
    others = {name: p for name, p in rates.items() if name not in resnets}
    assert resnets and all(p == config.condition_encoder.dropout == 0.2 for p in resnets.values()), resnets
    assert others and all(p == 0.0 for p in others.values()), others  # the attention block's output dropout
