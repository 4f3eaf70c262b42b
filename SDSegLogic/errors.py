"""Exceptions raised by the SDSeg engine.

Every error names the offending file or value and says what to do about it, so that a
clinician in Slicer, a researcher at the command line and a script all get a message they can
act on. Input validation always raises one of these; it never uses ``assert``.
"""

from __future__ import annotations

__all__ = [
    "SDSegError",
    "InputError",
    "GeometryError",
    "ConfigError",
    "ModelCardError",
    "CheckpointError",
    "WeightsMismatchError",
    "CancelledError",
]


class SDSegError(Exception):
    """Base class of every error the engine raises on purpose."""


class InputError(SDSegError, ValueError):
    """An input image, array or file cannot be used as given (shape, dtype, values, format)."""


class GeometryError(SDSegError, ValueError):
    """Spacing, origin or direction of an image is invalid or cannot be handled."""


class ConfigError(SDSegError, ValueError):
    """An architecture configuration (``config.json``) is missing, malformed or inconsistent."""


class ModelCardError(SDSegError, ValueError):
    """A model card (``model_card.json``) is missing, malformed or inconsistent."""


class CheckpointError(SDSegError, OSError):
    """A weight file is missing, unreadable, corrupt or fails its sha256 check."""


class WeightsMismatchError(CheckpointError):
    """Weights do not fit the architecture: missing, unexpected or wrongly shaped tensors."""


class CancelledError(SDSegError):
    """Work was cancelled by the user; nothing was written."""
