"""A JPEG mask read as a labelmap: binary, foreground where the value is above 127.

JPEG is lossy: a black-and-white mask (Kvasir-SEG ships its masks as JPEG; CVC-ClinicDB's are often converted to
it) comes back with compression noise near every edge (values such as 1..20 and 235..254), which read as labels
would become extra segments, scored as misses or listed as unpaired. So a JPEG mask is read as one segment,
label 255, where the grey level is above 127, as the training's Kvasir loader (``sdseg_training.data.masks.read_mask``,
rule ``"grey"``) thresholds it. A colour file's grey level is :func:`grey_levels` (the luma
``0.299 R + 0.587 G + 0.114 B`` rounded to a whole level, as a viewer shows it in grey), the one rule both use.

A JPEG that is clearly not a black-and-white mask with noise cannot be read exactly and is refused:

* coloured pixels (a colour-coded class mask): red, green and blue differ by more than :data:`GRAY_SPREAD`;
* grey regions (a multi-label mask, e.g. labels 85 and 170): an 8 x 8 block (JPEG's own block) whose values lie
  within :data:`FLAT_SPREAD` of each other around a mid grey (``32 < mean < 224``): noise stays near edges,
  where a block spans black and white, never flat and grey;
* small labels (0, 1, 2 ...): non-zero values, none above 127.
"""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import numpy as np

from ..errors import InputError
from ..preprocessing import LUMINANCE

__all__ = ["JPEG_NOTE", "FOREGROUND", "binary_jpeg_mask", "grey_levels"]

#: the label a JPEG mask's foreground reads as (white, as a 0/255 mask stores it)
FOREGROUND = 255
#: most a grey JPEG's red, green and blue may differ by (decoded grey JPEGs differ by 0..2)
GRAY_SPREAD = 48
#: an 8 x 8 block whose values span at most this is flat (a region, not an edge's noise)
FLAT_SPREAD = 32
#: the note the report carries for a JPEG mask read as binary (no path: a folder's cases share one line)
JPEG_NOTE = ("a JPEG mask (lossy: its edges hold compression noise) is read as binary: foreground (label 255) where "
             "the grey level is above 127, as the training's Kvasir loader reads masks.")


def grey_levels(rgb: np.ndarray) -> np.ndarray:
    """The grey level of colour mask pixels: the luma (:data:`SDSegLogic.preprocessing.LUMINANCE`, BT.601) rounded
    to the nearest whole level, as a viewer shows a colour mask in grey.

    The one rule for a colour mask's grey level: the engine's JPEG masks (here) and the training's mask reader
    (``sdseg_training.data.masks.read_mask``) both use it, so a pixel is foreground (> 127) in both or in neither.

    Args:
        rgb: (..., C) 8-bit pixels, C >= 3 (red, green, blue first; a fourth, alpha, is ignored).

    Returns:
        (...) uint8 grey levels.
    """
    luma = np.asarray(rgb)[..., :3].astype(np.float32) @ np.asarray(LUMINANCE, np.float32)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)


def _grey(path: Path, array: np.ndarray) -> np.ndarray:
    """(K, J, I) grey levels of (K, J, I) or (K, J, I, C) decoded JPEG voxels; colour refused unless grey."""
    if array.ndim == 3:
        return array.astype(np.float32)
    rgb = array[..., :3].astype(np.int16)
    spread = rgb.max(axis=-1) - rgb.min(axis=-1)
    if spread.max() > GRAY_SPREAD:
        k, j, i = (int(v) for v in np.argwhere(spread > GRAY_SPREAD)[0])
        raise InputError(f"{path}: a JPEG mask with coloured pixels (RGB {tuple(int(v) for v in rgb[k, j, i])} at "
                         f"voxel (k, j, i) {(k, j, i)}); a colour-coded class mask cannot be read exactly from a lossy "
                         "JPEG (its colours blur into each other). Save the mask as PNG with one label value per class.")
    return grey_levels(rgb).astype(np.float32)  # the one grey level of a colour mask, training's too


def _flat_grey_block(grey: np.ndarray) -> Tuple[int, int, int, float]:
    """The first flat mid-grey 8 x 8 block of (K, J, I) grey levels as ``(k, j, i, mean)``; ``k = -1`` when none."""
    depth, rows, cols = grey.shape
    blocks = grey[:, :rows // 8 * 8, :cols // 8 * 8].reshape(depth, rows // 8, 8, cols // 8, 8)
    spread = blocks.max(axis=(2, 4)) - blocks.min(axis=(2, 4))
    mean = blocks.mean(axis=(2, 4))
    flat = (spread <= FLAT_SPREAD) & (mean > 32) & (mean < 224)
    if not flat.any():
        return -1, 0, 0, 0.0
    k, bj, bi = (int(v) for v in np.argwhere(flat)[0])
    return k, bj * 8, bi * 8, float(mean[k, bj, bi])


def binary_jpeg_mask(path: Path, array: np.ndarray) -> np.ndarray:
    """A decoded JPEG mask as a binary labelmap.

    Args:
        path: the file (for messages).
        array: (K, J, I) grey or (K, J, I, C) colour voxels as decoded, uint8.

    Returns:
        (K, J, I) uint8: :data:`FOREGROUND` where the grey level is above 127, else 0.

    Raises:
        InputError: coloured pixels, flat grey regions or only small non-zero values (see the module docstring):
            the file is not a black-and-white mask and its labels cannot be read exactly.
    """
    grey = _grey(path, array)
    save = "Save the labelmap losslessly (PNG, NRRD or NIfTI) and score that file."
    k, j, i, mean = _flat_grey_block(grey)
    if k >= 0:
        raise InputError(f"{path}: a JPEG mask with a grey region (about {mean:.0f} in the 8 x 8 block at voxel (k, j, i) "
                         f"{(k, j, i)}), not a black-and-white mask with compression noise: a multi-label mask cannot be "
                         f"read exactly from a lossy JPEG. {save}")
    foreground = grey > 127
    if not foreground.any() and grey.max() > 0:
        raise InputError(f"{path}: a JPEG mask with values up to {float(grey.max()):.0f} and none above 127 (small labels "
                         f"such as 0/1?): a JPEG mask is read as binary, foreground above 127, and small labels cannot "
                         f"be read exactly from a lossy JPEG. {save}")
    return np.where(foreground, np.uint8(FOREGROUND), np.uint8(0))
