"""TensorBoard logging that degrades to nothing, with a warning, when TensorBoard is not installed.

``tensorboard`` is a dependency of this package, but an install without dependencies (``pip
install --no-deps``, a hand-built environment) lacks it; the logs are a convenience, so training
goes on without them instead of stopping after the data and model were set up.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

__all__ = ["open_summary_writer", "NoWriter"]


class NoWriter:
    """Stands in for ``SummaryWriter`` when TensorBoard is missing: every call does nothing."""

    def add_scalar(self, *args: Any, **kwargs: Any) -> None:
        return None

    def add_image(self, *args: Any, **kwargs: Any) -> None:
        return None

    def close(self) -> None:
        return None


def open_summary_writer(folder: Path) -> Any:
    """A ``torch.utils.tensorboard.SummaryWriter`` writing to ``folder``, or a :class:`NoWriter` (warned) without TensorBoard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        warnings.warn(f"TensorBoard is not installed ({exc}), so no TensorBoard logs are written to {folder}; training "
                      "goes on (the losses still show in the progress bar). Install it with: pip install tensorboard",
                      stacklevel=3)
        return NoWriter()
    return SummaryWriter(str(folder))
