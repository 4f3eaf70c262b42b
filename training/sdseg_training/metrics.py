"""Dice and IoU with an explicit empty-mask convention (MONAI metrics underneath).

Convention (the original code had it backwards, see the method spec): for one image (2D) or one
volume (3D) and one class,

* prediction and target both empty -> Dice = IoU = 1 (a correct "nothing here");
* target empty, prediction not      -> Dice = IoU = 0 (a false positive is an error);
* otherwise the usual 2|P&T| / (|P| + |T|) and |P&T| / |P|T|.

MONAI's ``compute_dice`` / ``compute_iou`` with ``ignore_empty=False`` implement exactly this.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
import torch

__all__ = ["dice_iou", "pixel_confusion"]


def dice_iou(pred: torch.Tensor, target: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-item Dice and IoU of binary masks.

    Args:
        pred, target: bool/0-1 tensors (N, *spatial) with the same shape; each of the N items is
            scored as a whole (an image, or a whole volume).

    Returns:
        (dice, iou): float32 (N,).
    """
    from monai.metrics import compute_dice, compute_iou

    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    p = pred.bool().float().unsqueeze(1)
    t = target.bool().float().unsqueeze(1)
    dice = compute_dice(p, t, include_background=True, ignore_empty=False)[:, 0]
    iou = compute_iou(p, t, include_background=True, ignore_empty=False)[:, 0]
    return dice.float(), iou.float()


def pixel_confusion(truth: np.ndarray, pred: np.ndarray, num_labels: int) -> np.ndarray:
    """Pixel counts of every (true label, predicted label) pair.

    Tells a missed organ (its pixels predicted as background, column 0) from a swapped one
    (predicted as another organ), which Dice alone cannot.

    Args:
        truth, pred: integer label maps of the same shape, values in ``[0, num_labels)``
            (0 = background).
        num_labels: K + 1 for K foreground classes.

    Returns:
        int64 (num_labels, num_labels): row = true label, column = predicted label.
    """
    if truth.shape != pred.shape:
        raise ValueError(f"prediction {pred.shape} and target {truth.shape} differ in shape")
    t = truth.astype(np.int64).ravel()
    p = pred.astype(np.int64).ravel()
    for name, values in (("target", t), ("prediction", p)):
        if values.size and (values.min() < 0 or values.max() >= num_labels):
            raise ValueError(f"{name} labels span {values.min()}..{values.max()}, outside 0..{num_labels - 1}")
    return np.bincount(t * num_labels + p, minlength=num_labels * num_labels).reshape(num_labels, num_labels)
