"""Exponential moving average of the UNet weights (evaluation and export use the EMA copy)."""

from __future__ import annotations

import copy
from typing import Dict

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    """EMA with the LDM warm-up: decay_n = min(max_decay, (1 + n) / (10 + n)) for the n-th update (n = 1, 2, ...).

    As LDM's ``LitEma``, which counts an update before computing its decay: the first update
    uses 2/11, not 1/10.

    Args:
        module: the live network (its parameters are read, never written).
        max_decay: the cap (0.9999 in the paper).

    Attributes:
        shadow: a frozen deep copy of ``module`` holding the averaged weights (float32).
        num_updates: n.
    """

    def __init__(self, module: nn.Module, max_decay: float = 0.9999) -> None:
        self.shadow = copy.deepcopy(module).float().eval().requires_grad_(False)
        self.max_decay = float(max_decay)
        self.num_updates = 0

    def decay(self) -> float:
        """The decay of the next update (its number n is ``num_updates + 1``)."""
        n = self.num_updates + 1
        return min(self.max_decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """shadow = d * shadow + (1 - d) * live, for parameters; buffers are copied."""
        d = self.decay()
        live = dict(module.named_parameters())
        shadow, sources = [], []
        for name, p in self.shadow.named_parameters():
            shadow.append(p)
            sources.append(live[name].detach().float())
        if shadow:  # one fused multi-tensor update instead of two kernels per parameter
            torch._foreach_mul_(shadow, d)
            torch._foreach_add_(shadow, sources, alpha=1.0 - d)
        live_buffers = dict(module.named_buffers())
        for name, b in self.shadow.named_buffers():
            b.copy_(live_buffers[name])
        self.num_updates += 1

    def state_tensors(self) -> Dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in self.shadow.state_dict().items()}

    def load_state_tensors(self, tensors: Dict[str, torch.Tensor], num_updates: int) -> None:
        self.shadow.load_state_dict(tensors, strict=True)
        self.num_updates = int(num_updates)
