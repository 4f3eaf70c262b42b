"""Exceptions of the training package (all derive from the engine's :class:`SDSegError`)."""

from __future__ import annotations

from SDSegLogic.errors import SDSegError

__all__ = ["TrainingError", "TrainingConfigError", "DatasetError", "ResumeError"]


class TrainingError(SDSegError):
    """Base class of errors raised on purpose by ``sdseg_training``."""


class TrainingConfigError(TrainingError, ValueError):
    """A training YAML file or override is malformed or inconsistent."""


class DatasetError(TrainingError, ValueError):
    """A dataset folder does not have the documented layout, or a case cannot be read."""


class ResumeError(TrainingError, OSError):
    """A training checkpoint is missing, incomplete or does not match the run."""
