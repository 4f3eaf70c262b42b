"""What :class:`SDSegLogic.pipeline.SDSegPipeline` returns for a batch of slices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["SDSegOutput"]


@dataclass
class SDSegOutput:
    """Result of :meth:`SDSegPipeline.__call__` for a batch of B slices of H x W pixels.

    Attributes:
        probabilities: float32 on the CPU. Binary: (B, H, W) foreground probability. Multi-class:
            (B, K, H, W) softmax over the K network classes (index 0 = background).
        labels: int64 (B, H, W): 0/1 for binary, class index 0..K-1 for multi-class.
        variance: per-pixel variance over samples, same shape as ``probabilities``, when
            ``num_samples > 1``; else ``None``.
        num_inference_steps, num_samples, seed: how it was produced.
    """

    probabilities: "torch.Tensor"
    labels: "torch.Tensor"
    variance: Optional["torch.Tensor"]
    num_inference_steps: int
    num_samples: int
    seed: Optional[int]
