"""Stage 2's model selection: validate the EMA model, keep the best step, and redo a validation a crash cut short.

The trainer saves a step's checkpoint before validating it (a crash while validating keeps the step);
the validation then records its result in that checkpoint (``best`` and ``history`` in ``state.json``).
A resume at a step whose validation never finished validates it first, so that the last step of a
run is never left unselected and no run ends without the ``best`` checkpoint its validation owes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional

from .checkpoint import update_checkpoint_state

__all__ = ["validate_and_select", "validation_owed"]


def validate_and_select(trainer, folder: Optional[Path], writer, started: float) -> Dict[str, Any]:
    """Validate ``trainer``'s EMA model at its step, save it as ``best`` when its Dice is higher, record both.

    All processes must call it (the metrics are reduced and ``best`` is saved by all of them).

    Args:
        trainer: the :class:`~.trainer.Stage2Trainer` (its ``step``, ``best``, ``history`` are updated).
        folder: the step checkpoint of this step, which learns the result; None when this step has none.
        writer: the TensorBoard writer or None.
        started: ``time.time()`` when this invocation started, for the log line.

    Returns:
        The validation metrics (``dice``, ``iou``, per-class ``dice/<name>``).
    """
    from .evaluate import validate

    acc = trainer.accelerator
    metrics = validate(trainer, writer)
    trainer.history.append({"step": trainer.step, **metrics})
    if trainer.best["metric"] is None or metrics["dice"] > trainer.best["metric"]:
        trainer.best = {"metric": metrics["dice"], "step": trainer.step}
        trainer.save("best")
    if folder is not None and acc.is_main_process:  # the step checkpoint learns this validation
        update_checkpoint_state(folder, best=trainer.best, history=trainer.history[-200:])
    acc.print(f"step {trainer.step}: val Dice {metrics['dice']:.4f} IoU {metrics['iou']:.4f} (best {trainer.best['metric']:.4f} "
              f"@ {trainer.best['step']}; {time.time() - started:.0f} s)")
    return metrics


def validation_owed(trainer, max_steps: int) -> bool:
    """Whether the step a run resumed at was due a validation that its checkpoint has no result of.

    A step is due one when it is a multiple of ``train.val_every`` or the last step (``max_steps``);
    its result is missing from ``history`` when the run crashed while validating it (after saving it).
    """
    step, val_every = int(trainer.step), int(trainer.cfg.train.val_every)
    if trainer.val_set is None or step == 0 or not (step % val_every == 0 or step >= max_steps):
        return False
    return not any(entry.get("step") == step for entry in trainer.history)
