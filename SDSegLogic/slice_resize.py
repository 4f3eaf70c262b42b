"""Resizing of slice batches: the network input onto the model grid, soft maps back to the native grid.

Bilinear interpolation with ``align_corners=False`` in both directions (pixel centres at
(n + 0.5) * size / n), so a mask resized to the model grid and back does not move by half a pixel.
The network input is resized exactly as the training package resizes its images (MONAI ``Resize``,
bilinear, no antialiasing; the official BTCV slices were made with OpenCV's ``INTER_LINEAR``, also
without). A model card may name another input resize, for checkpoints of the official code that
resized with Pillow or SciPy (:mod:`SDSegLogic.input_resize`). Soft maps shrunk back onto a smaller
native grid are antialiased (there is no training counterpart to match). Re-exported by
:mod:`SDSegLogic.preprocessing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["resize_tensor", "interpolate_tensor", "resize_slices", "resize_back"]


def resize_tensor(x: "torch.Tensor", size: Sequence[int], antialias: bool = True,
                  mode: str = "bilinear", align_corners: bool = False) -> "torch.Tensor":
    """The project's resize of soft maps: float (B, C, H, W) -> (B, C, size[0], size[1]) on x's device, a new tensor.

    Bilinear with pixel centres aligned (``align_corners=False``), or with the first and last
    pixels aligned for a model whose input was resized so (``align_corners=True``, the card's
    ``corners-bilinear``); a copy when the size already matches. Both the host path (NumPy in,
    via :func:`_interpolate`) and the GPU post-processing (:mod:`SDSegLogic.device_postprocess`) use it.

    Args:
        x: float (B, C, H, W).
        size: (rows, columns) wanted.
        antialias: antialias when shrinking (soft maps back to a smaller native grid); never when
            enlarging, and never with ``align_corners`` (PyTorch's antialiased filter with aligned
            corners moves a ramp by up to 1.2 pixels, torch 2.13).
        mode: ``"bilinear"`` or ``"bicubic"``.
        align_corners: map the first and last pixel centres onto each other.
    """
    size = (int(size[0]), int(size[1]))
    antialias = bool(antialias) and not align_corners and (size[0] < x.shape[2] or size[1] < x.shape[3])
    return interpolate_tensor(x, size, mode, antialias=antialias, align_corners=align_corners)


def interpolate_tensor(x: "torch.Tensor", size: Sequence[int], mode: str = "bilinear", antialias: bool = False,
                       align_corners: bool = False) -> "torch.Tensor":
    """``F.interpolate`` of float (B, C, H, W) to ``size``, without gradients; a copy when the size matches.

    ``antialias`` is applied as given, also when enlarging (Pillow's filter:
    :mod:`SDSegLogic.input_resize`), and works around PyTorch's antialiased resize to one column.
    """
    import torch
    import torch.nn.functional as F

    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[2:]) == size:
        return x.clone()
    with torch.no_grad():
        if antialias and size[1] == 1 and size[0] > 1:
            # PyTorch's antialiased resize to ONE column gives every row the same value when the height
            # changes too (torch 2.13, CPU: (64, 64) -> (1000, 1) is a constant); the same filter on the
            # transposed maps, one ROW wide, is right.
            out = F.interpolate(x.transpose(2, 3).contiguous(), size=(size[1], size[0]), mode=mode,
                                align_corners=align_corners, antialias=True)
            return out.transpose(2, 3).contiguous()
        return F.interpolate(x.contiguous(), size=size, mode=mode, align_corners=align_corners, antialias=antialias)


def _interpolate(x: np.ndarray, size: Sequence[int], antialias: bool = True, mode: str = "bilinear",
                 align_corners: bool = False) -> np.ndarray:
    import torch

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise InputError(f"expected slices (B, C, H, W), got shape {x.shape}.")
    return resize_tensor(torch.from_numpy(np.ascontiguousarray(x)), size, antialias, mode, align_corners).numpy()


def resize_slices(x: np.ndarray, size: int, mode: str = "bilinear") -> np.ndarray:
    """Resize float32 (B, C, H, W) slices in [-1, 1] to (B, C, size, size), clipped to [-1, 1].

    ``mode`` is the model card's ``image_resize`` (:mod:`SDSegLogic.input_resize`). The default
    ``"bilinear"`` (or ``"bicubic"``) is ``align_corners=False`` and NOT antialiased: the training
    package's image resize (MONAI ``Resize``) and the official OpenCV ``INTER_LINEAR`` BTCV
    preprocessing, so the network sees the inputs it was trained on (an antialiased 512 -> 128 demo
    CT slice differed from its training input by up to 0.76). The ``"pillow-*"`` and
    ``"corners-bilinear"`` modes reproduce the official code's resize of its other datasets.

    Raises:
        InputError: ``x`` is not 4-D, or ``mode`` is not a known ``image_resize``.
    """
    import torch

    from .input_resize import input_resize_tensor

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise InputError(f"expected slices (B, C, H, W), got shape {x.shape}.")
    out = input_resize_tensor(torch.from_numpy(np.ascontiguousarray(x)), (size, size), mode).numpy()
    return np.clip(out, -1.0, 1.0, out=out)


def resize_back(p: np.ndarray, shape: Sequence[int], align_corners: bool = False) -> np.ndarray:
    """Resize soft maps (B, C, S, S) back to the native in-plane grid (B, C, H, W) = ``shape``.

    The exact inverse of the network input's placement, so thresholding the result does not shift
    the mask: bilinear with pixel centres aligned (``align_corners=False``) for every input resize
    but ``corners-bilinear``, whose first and last pixels are aligned both ways
    (``align_corners=True``, :func:`SDSegLogic.input_resize.back_align_corners`). Values stay in [0, 1].
    """
    out = _interpolate(p, shape, align_corners=align_corners)
    return np.clip(out, 0.0, 1.0, out=out)
