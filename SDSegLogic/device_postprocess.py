"""Resize back, threshold/argmax and map to label values on the predictor's device.

The volume pipeline (:func:`SDSegLogic.segment.segment_array`) turns each batch's soft maps
(B, C, S, S) into labels on the native in-plane grid (B, H, W). On the CPU it does so with NumPy
after the predictor returns; with a CUDA predictor that host work (a bilinear resize of every
class map to 512 x 512, then the argmax) costs more than the network itself for a small model,
and the float32 maps must first cross to the host. :func:`postprocess_on_device` does the same
steps with the same operations where the maps already are, and only the uint8 labels (plus the
soft maps when the caller keeps them) are copied back.

Same results as the host path: the same resize (:func:`SDSegLogic.slice_resize.resize_tensor`:
bilinear, ``align_corners=False``, antialiased only when shrinking), clamped to [0, 1], then
``p > threshold`` for a binary model or the first maximum over classes (ties go to the lowest
class index, as ``np.argmax``). On the CPU both paths are bit-identical (tested); on a GPU the
resize may differ from the CPU one in the last bit of float32, which can flip a pixel whose
probability lies exactly at the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from .slice_resize import resize_tensor

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["NativeBatch", "postprocess_on_device"]


@dataclass
class NativeBatch:
    """One batch on the native in-plane grid, on the host.

    Attributes:
        labels: uint8 (B, H, W) label values of the model card (0 = background).
        probabilities: float32 (B, C, H, W) in [0, 1], or None when not kept.
        variance: float32 (B, C, H, W) in [0, 1] (more than one sample), or None.
        finite: whether every soft map value at the model's size was finite (NaN/inf means broken
            weights or too low a precision; the caller rejects the batch).
    """

    labels: np.ndarray
    probabilities: Optional[np.ndarray]
    variance: Optional[np.ndarray]
    finite: bool


def _resize(maps: "torch.Tensor", in_plane: Sequence[int], align_corners: bool = False) -> "torch.Tensor":
    """float32 (B, C, S, S) -> (B, C, H, W) clamped to [0, 1], as ``slice_resize.resize_back``."""
    return resize_tensor(maps, in_plane, align_corners=align_corners).clamp_(0.0, 1.0)


def postprocess_on_device(mean: "torch.Tensor", variance: Optional["torch.Tensor"], in_plane: Sequence[int],
                          values: np.ndarray, threshold: float, keep_probabilities: bool = True,
                          align_corners: bool = False) -> NativeBatch:
    """Soft maps at the model's size -> labels (and soft maps) on the native grid, on the host.

    Args:
        mean: float32 (B, C, S, S) soft maps on any device: C = 1 foreground probability of a
            binary model, else softmax over C network classes (index 0 = background).
        variance: like ``mean`` (several samples), or None.
        in_plane: native (H, W) of a slice, in the model's slice frame.
        values: uint8 (C + 1 for binary, else C) label value of each network class; index 0 = 0.
        threshold: foreground threshold of a binary model (``p > threshold``).
        keep_probabilities: also return the resized soft maps.
        align_corners: resize with the first and last pixels aligned (a ``corners-bilinear`` card,
            :func:`SDSegLogic.input_resize.back_align_corners`), as the host path does.

    Returns:
        :class:`NativeBatch` with host NumPy arrays.
    """
    import torch

    with torch.inference_mode():
        mean = mean.float()
        finite = bool(torch.isfinite(mean).all())
        native = _resize(mean, in_plane, align_corners)
        lookup = torch.as_tensor(np.asarray(values, dtype=np.uint8), device=native.device)
        if native.shape[1] == 1:
            labels = torch.where(native[:, 0] > threshold, lookup[1], lookup[0].new_zeros(()))
        else:
            labels = lookup[native.argmax(dim=1)]
        var = None if variance is None else _resize(variance.float(), in_plane, align_corners)
        return NativeBatch(
            labels=labels.to(torch.uint8).cpu().numpy(),
            probabilities=native.cpu().numpy() if keep_probabilities else None,
            variance=None if var is None else var.cpu().numpy(),
            finite=finite,
        )
