"""A colour picture (PNG, TIFF, BMP) read as a labelmap: its grey level, or its palette index.

The picture reader gives colour voxels (K, J, I, C), C = 3 or 4, which are no labels. Two kinds of colour mask
are exact labelmaps all the same, read as the training's mask reader (``sdseg_training.data.masks.read_mask``)
reads them:

* grey pixels of a picture without a palette (red = green = blue: a mask saved as RGB): the grey level;
* a palette picture whose palette is grey and holds every index used (a black-and-white mask stored with a
  palette): the grey level shown;
* any other palette picture (PASCAL VOC's class masks): the palette index of each pixel, as
  ``numpy.asarray(PIL.Image.open(f))`` and VOC-style tools read class masks, even where the indices used show
  grey colours (VOC's "car", index 7, is grey 128): the whole palette decides, as in training, so that files
  sharing a palette read alike.

An opaque alpha channel is ignored. Any other colour mask (colour-coded classes stored as RGB, no palette) has
no label numbers and is refused, naming a colour; so is a mask with transparency that is no palette's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from ..errors import InputError

__all__ = ["colour_picture_labels"]


def _palette(path: Path) -> Optional[Tuple[Dict[Tuple[int, int, int], int], bool]]:
    """How a palette picture's colours read; ``None`` for no palette picture.

    Returns:
        ``(colours, grey)``: ``grey`` when the palette is grey and holds every index the picture uses (its pixels
        read as the grey level shown; ``colours`` then empty), else ``colours``, RGB colour -> palette index over
        the indices used (an index beyond the palette shows black).

    Raises:
        InputError: two indices the picture uses share one colour in a palette that is not grey (their pixels
            cannot be told apart).
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
    covered = used.size == 0 or int(used.max()) < len(entries)
    if covered and bool((entries == entries[:, :1]).all()):  # the whole palette decides, as training's reader
        return {}, True
    colours: Dict[Tuple[int, int, int], int] = {}
    for index in (int(v) for v in used):
        colour = tuple(int(c) for c in entries[index]) if index < len(entries) else (0, 0, 0)
        if colour in colours:
            raise InputError(f"{path}: palette indices {colours[colour]} and {index} both show colour {colour}, so their "
                             "pixels cannot be told apart; save the mask as a grey PNG of label values (0 = background).")
        colours[colour] = index
    return colours, False


def colour_picture_labels(path: Path, array: np.ndarray) -> np.ndarray:
    """Labels of a colour picture's voxels.

    Args:
        path: the picture file.
        array: (K, J, I, C) voxels as the picture reader decodes them (C = 3 or 4; a palette picture in its colours).

    Returns:
        (K, J, I): the grey level (the file's type) of a picture without a palette whose pixels are all grey, or of
        one with a grey palette holding every index used; else uint8 palette indices.

    Raises:
        InputError: colours of no palette (colour-coded classes), transparency, palette indices sharing a colour.
    """
    rgb = array[..., :3]
    found = _palette(path)
    top = np.iinfo(array.dtype).max if array.dtype.kind in "iu" else 1.0
    opaque = array.shape[-1] < 4 or bool((array[..., 3] == top).all())
    grey = bool((rgb == rgb[..., :1]).all())
    if grey and (found[1] if found is not None else opaque):
        return np.ascontiguousarray(rgb[..., 0])  # grey (an RGB mask, a grey palette): its grey level
    if found is not None and not found[1]:  # a coloured palette: the indices, even of grey entries (VOC's car)
        palette = found[0]
        keys = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
        codes = np.array([(r << 16) | (g << 8) | b for r, g, b in palette], np.int64)
        order = np.argsort(codes)
        where = np.clip(np.searchsorted(codes[order], keys), 0, len(codes) - 1)
        if (codes[order][where] == keys).all():
            return np.array(list(palette.values()), np.uint8)[order][where]
    if not opaque:
        raise InputError(f"{path}: a mask with transparency (an alpha channel); a mask is read from its values, never "
                         "its transparency. Save it as a grey PNG of label values (0 = background).")
    odd = np.argwhere((rgb != rgb[..., :1]).any(axis=-1))
    if odd.size == 0:  # a palette's colours the reader decoded otherwise than the palette lists them
        raise InputError(f"{path}: its pixels show colours its palette does not list, so their palette indices cannot "
                         "be read; save the mask as a grey PNG of label values (0 = background).")
    k, j, i = (int(v) for v in odd[0])
    raise InputError(f"{path}: a colour mask (RGB {tuple(int(v) for v in rgb[k, j, i])} at voxel (k, j, i) {(k, j, i)}) "
                     "without a palette: its colours are no label numbers. Save it as a grey PNG of label values "
                     "(0 = background, 1, 2, ... one per class) or as a palette PNG whose indices are the labels.")
