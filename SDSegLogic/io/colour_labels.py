"""A colour picture (PNG, TIFF, BMP) read as a labelmap: its grey level, or its palette index.

The picture reader gives colour voxels (K, J, I, C), C = 3 or 4, which are no labels. Two kinds of colour mask
are exact labelmaps all the same, read as the training's mask reader (``sdseg_training.data.masks.read_mask``)
reads them:

* grey pixels (red = green = blue: a mask saved as RGB, or with a grey palette): the grey level;
* a palette picture with coloured entries (PASCAL VOC's class masks): the palette index of each pixel, as
  ``numpy.asarray(PIL.Image.open(f))`` and VOC-style tools read class masks.

An opaque alpha channel is ignored. Any other colour mask (colour-coded classes stored as RGB, no palette) has
no label numbers and is refused, naming a colour; so is a mask with transparency that is no palette's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from ..errors import InputError

__all__ = ["colour_picture_labels"]


def _palette(path: Path) -> Optional[Dict[Tuple[int, int, int], int]]:
    """RGB colour -> palette index over the indices a palette picture uses; ``None`` for no palette picture.

    Raises:
        InputError: two indices the picture uses share one colour (their pixels cannot be told apart).
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.mode not in ("P", "PA"):
                return None
            used = np.unique(np.asarray(img if img.mode == "P" else img.getchannel("P")))
            entries = np.asarray(img.getpalette("RGB") or [], np.uint8).reshape(-1, 3)
    except (OSError, ValueError):
        return None  # the reader has read it; a palette we cannot list is read as colour (refused)
    colours: Dict[Tuple[int, int, int], int] = {}
    for index in (int(v) for v in used):
        colour = tuple(int(c) for c in entries[index]) if index < len(entries) else (0, 0, 0)
        if colour in colours:
            raise InputError(f"{path}: palette indices {colours[colour]} and {index} both show colour {colour}, so their "
                             "pixels cannot be told apart; save the mask as a grey PNG of label values (0 = background).")
        colours[colour] = index
    return colours


def colour_picture_labels(path: Path, array: np.ndarray) -> np.ndarray:
    """Labels of a colour picture's voxels.

    Args:
        path: the picture file.
        array: (K, J, I, C) voxels as the picture reader decodes them (C = 3 or 4; a palette picture in its colours).

    Returns:
        (K, J, I): the grey level (the file's type) where every pixel is grey, else uint8 palette indices.

    Raises:
        InputError: colours of no palette (colour-coded classes), transparency, palette indices sharing a colour.
    """
    rgb = array[..., :3]
    palette = _palette(path)
    top = np.iinfo(array.dtype).max if array.dtype.kind in "iu" else 1.0
    opaque = array.shape[-1] < 4 or bool((array[..., 3] == top).all())
    if (rgb == rgb[..., :1]).all() and (opaque or palette is not None):
        return np.ascontiguousarray(rgb[..., 0])  # grey (an RGB mask, a grey palette): its grey level
    if palette is not None:
        keys = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
        codes = np.array([(r << 16) | (g << 8) | b for r, g, b in palette], np.int64)
        order = np.argsort(codes)
        where = np.clip(np.searchsorted(codes[order], keys), 0, len(codes) - 1)
        if (codes[order][where] == keys).all():
            return np.array(list(palette.values()), np.uint8)[order][where]
    if not opaque:
        raise InputError(f"{path}: a mask with transparency (an alpha channel); a mask is read from its values, never "
                         "its transparency. Save it as a grey PNG of label values (0 = background).")
    k, j, i = (int(v) for v in np.argwhere((rgb != rgb[..., :1]).any(axis=-1))[0])
    raise InputError(f"{path}: a colour mask (RGB {tuple(int(v) for v in rgb[k, j, i])} at voxel (k, j, i) {(k, j, i)}) "
                     "without a palette: its colours are no label numbers. Save it as a grey PNG of label values "
                     "(0 = background, 1, 2, ... one per class) or as a palette PNG whose indices are the labels.")
