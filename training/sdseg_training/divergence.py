"""Stop a run whose weights stopped being finite numbers, before it saves or selects them.

A loss that becomes NaN or infinite (a learning rate too high for the data, a NaN in the inputs)
makes every weight NaN within one AdamW step. Left alone, a run would go on for its remaining
steps and save the NaN weights: stage 2 as step checkpoints (pruning the last good ones) and
possibly as ``best``, stage 1 as the trained autoencoder. Both trainers therefore check the weights
whenever they log, validate or save. Under fp16 the grad scaler skips a step with non-finite
gradients and the weights stay finite, so only a real divergence stops a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

import torch

from .errors import TrainingDiverged

__all__ = ["weights_finite", "DivergenceGuard", "stage2_kept"]

#: The settings that tame a diverging run, per stage (named in the message).
REMEDIES = {
    "stage 1": "lower autoencoder.lr (or set autoencoder.warmup_steps)",
    "stage 2": "lower the learning rate (optim.lr or optim.lr_per_sample, a longer optim.warmup_steps) or set optim.grad_clip",
}


def weights_finite(parameters: Iterable[torch.Tensor]) -> bool:
    """True when every value of every tensor is finite (one host sync)."""
    flags = [torch.isfinite(p.detach()).all() for p in parameters]
    return bool(torch.stack(flags).all()) if flags else True


def stage2_kept(latest: Optional[Path]) -> str:
    """What a diverged stage-2 run leaves to resume from: its latest step checkpoint, if any."""
    if latest is None:
        return "no checkpoint was saved before; start again after the change"
    return f"the latest checkpoint, {latest}, holds weights from before; resume from it (--resume {latest}) after the change"


class DivergenceGuard:
    """Remember the last step whose weights were finite; raise :class:`TrainingDiverged` once they are not.

    Args:
        step: the step the run starts (or resumes) at, whose weights are taken as finite.
        stage: ``"stage 1"`` or ``"stage 2"`` (the message and its remedy, :data:`REMEDIES`).
    """

    def __init__(self, step: int, stage: str = "stage 2") -> None:
        self.last_finite_step = int(step)
        self.stage = stage

    def check(self, module: torch.nn.Module, step: int, kept: str) -> None:
        """Check ``module``'s parameters after optimizer step ``step``.

        Args:
            module: the trained networks (unwrapped).
            step: the optimizer steps done.
            kept: what the run saved before and how to go on from it, for the message.

        Raises:
            TrainingDiverged: some weight is NaN or infinite; names the steps, what was kept and the remedies.
        """
        if weights_finite(module.parameters()):
            self.last_finite_step = int(step)
            return
        raise TrainingDiverged(
            f"{self.stage} diverged: the weights are NaN or infinite after step {step} (they were finite at step "
            f"{self.last_finite_step}), so the run stopped without saving, validating or keeping them. "
            f"{REMEDIES[self.stage][0].upper()}{REMEDIES[self.stage][1:]}, and check the images for NaN or infinite "
            f"values; {kept}.")
