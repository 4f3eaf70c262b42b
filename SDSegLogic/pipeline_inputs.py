"""Checks on the slices handed to the network: shape, size, dtype, finiteness, value range."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["validate_images", "RANGE_TOLERANCE"]

RANGE_TOLERANCE = 1e-3  # values this far outside [-1, 1] are rounding, not a missing intensity mapping


def validate_images(images, multiple: int, sample_size: int) -> "torch.Tensor":
    """Return ``images`` as a float32 tensor (B, 3, H, W) in [-1, 1], or raise a clear error.

    Args:
        images: torch tensor or NumPy array (B, 3, H, W), already intensity-mapped.
        multiple: H and W must be multiples of this (autoencoder x UNet downsampling).
        sample_size: the model's training size, named in the remedy.

    Raises:
        InputError: wrong type, rank, channel count, no slice, size, dtype, non-finite values or range.
    """
    import numpy as np
    import torch

    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise InputError(f"images must be a torch.Tensor or numpy array of shape (B, 3, H, W), got {type(images).__name__}.")
    if images.ndim != 4:
        raise InputError(f"images must have shape (B, 3, H, W); got {tuple(images.shape)}. Add a batch axis or stack slices.")
    if images.shape[1] != 3:
        raise InputError(
            f"images have {images.shape[1]} channels at axis 1 (shape {tuple(images.shape)}); SDSeg takes 3. "
            "Repeat a grayscale slice to 3 channels (the volume pipeline does this for you)."
        )
    if images.shape[0] == 0:
        raise InputError(f"images hold no slice (shape {tuple(images.shape)}); give at least one slice (B >= 1).")
    h, w = images.shape[2], images.shape[3]
    if h % multiple or w % multiple or h == 0 or w == 0:
        raise InputError(
            f"slice size {h}x{w} is not a multiple of {multiple} (autoencoder x UNet downsampling); "
            f"resize to the model size {sample_size}x{sample_size}."
        )
    if not images.is_floating_point():
        raise InputError(f"images must be floating point in [-1, 1], got dtype {images.dtype}; apply the model card's intensity mapping.")
    finite = torch.isfinite(images)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise InputError(f"images contain {bad} NaN or infinite values; replace them (e.g. with the window minimum) before segmenting.")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1 - RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise InputError(
            f"image values span [{lo:.4g}, {hi:.4g}] but the model expects [-1, 1]; apply the model card's intensity "
            "mapping (e.g. the CT window) first."
        )
    return images.float()
