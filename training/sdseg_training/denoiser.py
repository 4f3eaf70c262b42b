"""The trainable pair (tau_theta, UNet) as one module, the learning-rate schedule, the data position of a resume."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

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



def resumed_position(state: Dict[str, Any], num_items: int, num_processes: int, batch_size: int) -> Tuple[int, int]:
    """Where a resumed run's data order goes on: ``(epoch, samples of this process's share drawn in it)``.

    A checkpoint records the position (``data_position``), so that a resume with another
    ``train.batch_size`` or ``train.grad_accum`` draws the epoch's next sample, never one seen in it
    already. Older checkpoints record the batches each process drew (``micro_batches``, of the
    recorded ``train.batch_size``; ``step * grad_accum`` before that), which gives the same position.

    Args:
        state: the checkpoint's ``state.json``.
        num_items: training slices of this invocation.
        num_processes, batch_size: this invocation's, for a checkpoint that did not record its own.
    """
    from .data.slices import advance_position

    if isinstance(state.get("data_position"), list) and len(state["data_position"]) == 2:
        return int(state["data_position"][0]), int(state["data_position"][1])
    train = (state.get("config") or {}).get("train") or {}
    drawn = state.get("micro_batches")
    drawn = int(drawn) if drawn is not None else int(state["step"]) * int(train.get("grad_accum", 1))
    world = int(state.get("num_processes") or num_processes)
    return advance_position((0, 0), drawn, int(num_items) // world, int(train.get("batch_size", batch_size)))


class null_context:
    """A context manager that does nothing (``contextlib.nullcontext`` without its argument)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
