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

import torch

__all__ = ["dice_iou"]


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
