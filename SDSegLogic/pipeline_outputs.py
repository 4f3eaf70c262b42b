"""What :class:`SDSegLogic.pipeline.SDSegPipeline` returns for a batch of slices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["SDSegOutput", "reproducible_seed"]


@dataclass
class SDSegOutput:
    """Result of :meth:`SDSegPipeline.__call__` for a batch of B slices of H x W pixels.

    Attributes:
        probabilities: float32 on the CPU. Binary: (B, H, W) foreground probability. Multi-class:
            (B, K, H, W) softmax over the K network classes (index 0 = background).
        labels: int64 (B, H, W): 0/1 for binary, class index 0..K-1 for multi-class.
        variance: per-pixel variance over samples, same shape as ``probabilities``, when
            ``num_samples > 1``; else ``None``.
        num_inference_steps, num_samples, seed: how it was produced; ``seed`` is the seed that
            reproduces the output (``pipe(images, seed=seed)``), also when the noise came from a
            freshly seeded ``torch.Generator``, and ``None`` when no seed does (``seed=None``, or a
            generator that had already drawn).
    """

    probabilities: "torch.Tensor"
    labels: "torch.Tensor"
    variance: Optional["torch.Tensor"]
    num_inference_steps: int
    num_samples: int
    seed: Optional[int]


def reproducible_seed(seed: Optional[int], generator: Optional["torch.Generator"]) -> Optional[int]:
    """The seed that reproduces the noise of one call, or ``None`` when no seed does.

    Args:
        seed: the call's ``seed`` (used only when ``generator`` is None).
        generator: the call's generator, before it drew anything. A CPU generator in the state
            that ``manual_seed(generator.initial_seed())`` gives is reproduced by that seed; a seed
            seeds a CPU generator, so it never reproduces the draws of a CUDA one.
    """
    if generator is None:
        return None if seed is None else int(seed)
    import torch

    if generator.device.type != "cpu":
        return None
    initial = int(generator.initial_seed())
    fresh = torch.Generator(device=generator.device).manual_seed(initial)
    return initial if torch.equal(fresh.get_state(), generator.get_state()) else None
