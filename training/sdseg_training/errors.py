"""Exceptions of the training package (all derive from the engine's :class:`SDSegError`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from SDSegLogic.errors import SDSegError

__all__ = ["TrainingError", "TrainingConfigError", "DatasetError", "ResumeError", "CheckpointWriteError", "TrainingDiverged",
           "TrainingInterrupted"]


class TrainingError(SDSegError):
    """Base class of errors raised on purpose by ``sdseg_training``."""


class TrainingConfigError(TrainingError, ValueError):
    """A training YAML file or override is malformed or inconsistent."""


class DatasetError(TrainingError, ValueError):
    """A dataset folder does not have the documented layout, or a case cannot be read."""


class ResumeError(TrainingError, OSError):
    """A training checkpoint is missing, incomplete or does not match the run."""


class CheckpointWriteError(TrainingError, OSError):
    """A checkpoint could not be written (disk full, a path blocked); the earlier checkpoints stay as they were."""


class TrainingDiverged(TrainingError):
    """Training stopped because the weights stopped being finite numbers (NaN or infinite); nothing was saved after."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a trainer after it saved a resumable checkpoint (the commands exit with 130).

    Attributes:
        step: the optimizer step the checkpoint holds.
        checkpoint: the checkpoint folder.
        report: False on the processes of a multi-process run that are not the main one (they
            stay silent; the main process reports).
    """

    def __init__(self, step: int, checkpoint: Optional[Path], report: bool = True) -> None:
        self.step = int(step)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.report = report
        where = f"; checkpoint saved in {self.checkpoint}" if self.checkpoint is not None else ""
        super().__init__(f"interrupted at step {self.step}{where}")
