"""The trainable pair (tau_theta, UNet) as one module, the learning-rate schedule, the data position of a resume."""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from torch import nn

__all__ = ["Denoiser", "lr_at", "resumed_position", "null_context"]


class Denoiser(nn.Module):
    """The trainable pair (tau_theta, UNet) as one module, so DDP wraps both."""

    def __init__(self, condition_encoder: nn.Module, unet: nn.Module, unet_autocast: bool = True) -> None:
        super().__init__()
        self.condition_encoder = condition_encoder
        self.unet = unet
        self.unet_autocast = unet_autocast

    def forward(self, image: torch.Tensor, z_t: torch.Tensor, t: torch.Tensor, class_labels: Optional[torch.Tensor]) -> torch.Tensor:
        z_c = self.condition_encoder(image)
        sample = torch.cat([z_t.float(), z_c.float()], dim=1)
        if self.unet_autocast:
            return self.unet(sample, t, class_labels=class_labels).sample
        with torch.autocast(sample.device.type, enabled=False):  # full precision for eps_hat
            return self.unet(sample, t, class_labels=class_labels).sample


def lr_at(step: int, base_lr: float, warmup_steps: int, start_factor: float) -> float:
    """Learning rate of optimizer step ``step`` (0-based): linear warm-up, then constant."""
    if warmup_steps <= 0 or step >= warmup_steps:
        return base_lr
    return base_lr * (start_factor + (1.0 - start_factor) * step / warmup_steps)



def resumed_position(state: Dict[str, Any], batch_size: int, grad_accum: int) -> int:
    """The batch of this run's data order a resumed run draws next, in batches of ``batch_size``.

    A checkpoint records the batches each process drew (``micro_batches``); ``step * grad_accum``
    would be wrong once ``train.grad_accum`` changes on resume (batches seen again, or skipped). A
    changed ``train.batch_size`` continues at the same number of samples drawn.

    Args:
        state: the checkpoint's ``state.json`` (``step``, ``micro_batches``, ``config.train``).
        batch_size, grad_accum: this invocation's ``train.batch_size`` and ``train.grad_accum``.
    """
    train = (state.get("config") or {}).get("train") or {}
    before = int(train.get("batch_size", batch_size))
    drawn = state.get("micro_batches")
    drawn = int(drawn) if drawn is not None else int(state["step"]) * int(train.get("grad_accum", grad_accum))
    return drawn * before // int(batch_size)


class null_context:
    """A context manager that does nothing (``contextlib.nullcontext`` without its argument)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
