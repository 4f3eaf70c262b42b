"""Stage-1 training masks: the pool of masks to learn and their augmentation (flips, transposes, shifts, crops, seams).

Each item is one binary mask (the union of all foreground, or one class), augmented on its device
and repeated to 3 channels in {-1, +1} (see :mod:`.autoencoder`).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from .data import SliceSet
from .data.slices import binary_target

__all__ = ["mask_pool", "pool_masks", "augment_masks", "carve_thin_gaps", "seam_pixels"]


def mask_pool(slices: SliceSet, multiclass: bool) -> List[Tuple[int, int]]:
    """(slice index, class index) of every mask to learn: the union, plus each present class."""
    pool = []
    for i in range(len(slices)):
        pool.append((i, 0))
        if multiclass:
            pool.extend((i, int(c)) for c in np.unique(slices.labels[i]) if c > 0)
    return pool


def pool_masks(slices: SliceSet, items: Sequence[Tuple[int, int]]) -> torch.Tensor:
    """Bool (N, S, S) masks of ``items``."""
    return torch.from_numpy(np.stack([binary_target(slices.labels[i], c) for i, c in items]))


def augment_masks(masks: torch.Tensor, rng: Optional[np.random.Generator], crop: int = 0, rot90: bool = False,
                  max_shift: int = 0, thin_gaps: float = 0.0) -> torch.Tensor:
    """Random flips (and transposes, translations, crops, thin gaps) of a batch of masks, on their device.

    Args:
        masks: bool (B, S, S) on any device.
        rng: draws the augmentation parameters (None = no augmentation).
        crop: output size of a random crop (0 or >= S: no crop).
        rot90: also transpose with probability 1/2 (with the flips: the 8 square symmetries).
        max_shift: translate by up to this many pixels in each direction (background fills in).
        thin_gaps: probability per mask of :func:`carve_thin_gaps` (0 draws nothing from ``rng``).

    Returns:
        float32 (B, 3, O, O) in {-1, +1}, O = crop or S.
    """
    b, s = masks.shape[0], masks.shape[-1]
    out_size = crop if crop and crop < s else s
    if rng is not None:
        dev = masks.device

        def coin() -> torch.Tensor:
            return torch.from_numpy(rng.random(b) < 0.5).to(dev)[:, None, None]

        if rot90:
            masks = torch.where(coin(), masks.transpose(1, 2), masks)
        masks = torch.where(coin(), masks.flip(2), masks)
        masks = torch.where(coin(), masks.flip(1), masks)
        if max_shift or out_size < s:
            pad = int(max_shift)
            start = rng.integers(0, s - out_size + 1, (b, 2)) + pad
            if pad:
                start = start - rng.integers(-pad, pad + 1, (b, 2))
                masks = torch.nn.functional.pad(masks, (pad, pad, pad, pad), value=False)
            offsets = torch.arange(out_size, device=dev)
            start_t = torch.from_numpy(start).to(dev)
            rows = start_t[:, 0, None] + offsets
            cols = start_t[:, 1, None] + offsets
            masks = masks[torch.arange(b, device=dev)[:, None, None], rows[:, :, None], cols[:, None, :]]
        if thin_gaps > 0:
            masks = carve_thin_gaps(masks, rng, thin_gaps)
    return (masks.float() * 2 - 1)[:, None].repeat(1, 3, 1, 1)


def carve_thin_gaps(masks: torch.Tensor, rng: np.random.Generator, probability: float) -> torch.Tensor:
    """Cut the one-pixel outline of another mask of the batch through some of the masks.

    Where two organs touch, the label map often keeps a one-pixel unlabelled seam (the
    diaphragm between lung and liver at 128 px), so union masks hold thin background curves
    that a downsample-by-8 autoencoder tends to fill in. Outlines of the batch's own organ
    masks give such curves realistic shapes and curvature; the carved mask is both the input
    and the target, so nothing outside the training masks is invented except the seam.

    Args:
        masks: bool (B, H, W), any device.
        rng: draws the donor of each mask (another index of the batch) and whether to carve.
        probability: chance per mask of being carved.

    Returns:
        bool (B, H, W): ``masks`` minus the outer one-pixel outline (8-connected ring) of each
        selected mask's donor; masks that were not selected are unchanged.
    """
    b = masks.shape[0]
    if b < 2:
        return masks
    dev = masks.device
    donor_index = torch.from_numpy((np.arange(b) + rng.integers(1, b, b)) % b).to(dev)
    carve = torch.from_numpy(rng.random(b) < probability).to(dev)[:, None, None]
    donors = masks[donor_index]
    grown = torch.nn.functional.max_pool2d(donors[:, None].float(), 3, stride=1, padding=1)[:, 0] > 0
    ring = grown & ~donors
    return masks & ~(ring & carve)


def seam_pixels(masks: torch.Tensor) -> torch.Tensor:
    """One-pixel background seams: background pixels with foreground on both sides.

    Args:
        masks: bool (B, H, W).

    Returns:
        bool (B, H, W): True where a pixel is background and its left and right, or its upper and
        lower, neighbours are foreground (the unlabelled one-pixel gap between touching organs).
    """
    pad = torch.nn.functional.pad(masks[:, None].float(), (1, 1, 1, 1))[:, 0] > 0
    across = pad[:, 1:-1, :-2] & pad[:, 1:-1, 2:]
    down = pad[:, :-2, 1:-1] & pad[:, 2:, 1:-1]
    return ~masks & (across | down)
