"""2-D mask files read as label values: the number each pixel stands for, before the class mapping.

Two readings, chosen by the dataset's label rule:

* ``"grey"`` (masks thresholded at > 127): the grey level a viewer shows. Colour masks become
  ``L = 0.299 R + 0.587 G + 0.114 B`` rounded to a whole level, the engine's rule
  (:func:`SDSegLogic.io.jpeg_labels.grey_levels`), so that ``sdseg score`` reads a JPEG mask's foreground as
  training does; 16-bit and 32-bit masks count values above 255 as 255.
* ``"labels"`` (``data.classes``): the whole number the file stores. 16-bit, 32-bit and float masks
  must hold whole numbers 0..255 (anything else is refused, naming the file and the values), instead
  of being clipped to 255 so that classes above it merge; volume label maps keep ids above 255
  (:func:`~.labels.integral_labels` with ``wide``).

Palette masks (PNG mode ``P``) read the same in both: when the palette holds only grey colours and
covers every index the file uses (a black-and-white or grey mask stored with a palette), the pixel is
the grey level shown; otherwise (coloured palettes such as VOC's, or a palette that lacks the indices
used) the pixel is its palette index, as ``numpy.asarray(PIL.Image.open(f))`` and VOC-style tools
read class masks. The whole palette decides, so that files sharing a palette read alike.

A TIFF mask whose Orientation tag turns it by 90 degrees (5-8) is refused: the training image is read as
3D Slicer shows it (ITK applies only the tag's mirroring), while Pillow turns such a mask or not depending
on its compression, so the two would not line up (tags 2-4 read alike in both and are accepted).

1-bit masks (mode ``1``) read as 0/255 under ``"grey"`` (the grey level shown) and as 0/1 under
``"labels"`` (the number stored). A mask is one picture: a multi-page file is refused (as the image
reader refuses one), and so is a mask drawn only in its alpha channel (transparency), whose values
are the same everywhere: a mask is read from its values, never from its transparency.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from SDSegLogic.io.jpeg_labels import grey_levels

from ..errors import DatasetError
from .labels import integral_labels

__all__ = ["read_mask", "refuge_cup"]

_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def read_mask(path: Path, rule: str = "grey") -> np.ndarray:
    """The label values of a 2-D mask file.

    Args:
        path: a PNG, JPEG, TIFF or BMP mask.
        rule: ``"grey"`` (threshold rule) or ``"labels"`` (values mapped by ``data.classes``).

    Returns:
        uint8 (H, W) values 0..255.

    Raises:
        DatasetError: an unreadable or multi-page file; a mask drawn only in its alpha channel; with
            ``"labels"``, a wide mask holding values outside 0..255 or non-integral values.
    """
    from PIL import Image

    if rule not in ("grey", "labels"):
        raise ValueError(f"mask rule {rule!r}: use 'grey' or 'labels'")
    try:
        with Image.open(path) as im:
            _single_page(im, path)
            _refuse_turned_tiff(im, path)
            if im.mode in ("P", "PA"):
                values = _palette_values(im)
            elif im.mode in _WIDE_MODES:
                values = _wide_values(np.asarray(im), path, rule)
            elif im.mode == "1" and rule == "labels":
                values = np.asarray(im).astype(np.uint8)  # the bit stored: 0/1, as data.classes labels [1] expects
            elif im.mode in ("L", "LA", "1"):
                values = np.asarray(im.convert("L"))
            else:  # colour (RGB, RGBA, CMYK, YCbCr ...): the engine's grey level, as sdseg score reads the mask
                values = grey_levels(np.asarray(im.convert("RGB")))
            _refuse_alpha_only(im, values, path, rule)
            return values
    except OSError as exc:
        raise DatasetError(f"{path}: the mask cannot be read ({exc}); re-save it as PNG.") from None


def _single_page(im, path: Path) -> None:
    """Refuse a multi-page mask (a TIFF stack): only its first page would be read, silently."""
    pages = int(getattr(im, "n_frames", 1))
    if pages > 1:
        raise DatasetError(f"{path}: the mask file holds {pages} pages; a 2-D mask is one picture (multi-page "
                           "images are refused too). Save the page that belongs to the image as a single-page file "
                           "with the image's name.")


def _refuse_turned_tiff(im, path: Path) -> None:
    """Refuse a TIFF mask with Orientation 5-8, which would not line up with its image (module docstring)."""
    tags = getattr(im, "tag_v2", None)
    orientation = tags.get(274, 1) if tags is not None else 1
    if orientation in (5, 6, 7, 8):
        raise DatasetError(f"{path}: the TIFF mask has Orientation {orientation} (a 90-degree turn), so it would not "
                           "line up with its image, which is read as 3D Slicer shows it (only the tag's mirroring "
                           "applied). Save the mask without the Orientation tag (e.g. as PNG), drawn on the image as "
                           "3D Slicer shows it.")


def _refuse_alpha_only(im, values: np.ndarray, path: Path, rule: str) -> None:
    """Refuse a mask whose alpha channel varies while its values are the same everywhere (drawn in alpha).

    Such a mask (an outline tool's export: one colour, the background transparent) would read as
    empty and be refused later, naming only the label values.
    """
    if "A" not in im.getbands() or values.size == 0 or values.min() != values.max():
        return
    alpha = np.asarray(im.getchannel("A"))
    if alpha.min() == alpha.max():
        return
    shown = "label value" if rule == "labels" else "grey level"
    raise DatasetError(f"{path}: the mask is drawn in its alpha channel: every pixel has {shown} {int(values.flat[0])} "
                       f"and only the transparency differs (alpha {int(alpha.min())}..{int(alpha.max())}), but a mask "
                       "is read from its values, not its transparency. Save the alpha channel as the mask, e.g. "
                       "PIL.Image.open(f).getchannel('A').save(f) (a grey mask, foreground > 127), or with "
                       "data.classes save each class's label value in the pixels.")


def _palette_values(im) -> np.ndarray:
    """Indices of a palette image, or their grey levels when its palette is grey and covers them."""
    index = np.asarray(im)
    index = index[..., 0] if index.ndim == 3 else index  # PA: index and alpha
    palette = np.asarray(im.getpalette() or [], np.int64).reshape(-1, 3)
    used = np.flatnonzero(np.bincount(index.ravel(), minlength=256))
    covered = used.size == 0 or int(used.max()) < palette.shape[0]
    grey = covered and bool((palette[:, 0] == palette[:, 1]).all() and (palette[:, 1] == palette[:, 2]).all())
    return palette[index, 0].astype(np.uint8) if grey else index.astype(np.uint8)


def _wide_values(array: np.ndarray, path: Path, rule: str) -> np.ndarray:
    """A 16-bit, 32-bit or float mask: whole numbers 0..255 (``"labels"``), or grey levels clipped to 0..255."""
    if rule == "labels":
        return integral_labels(array, path)
    if array.dtype.kind == "f":
        array = np.rint(np.nan_to_num(array, nan=0.0))
    return np.clip(array, 0, 255).astype(np.uint8)


def refuge_cup(path: Path) -> np.ndarray:
    """REFUGE2 mask as 0 background, 1 optic cup, 2 rim (the rest of the optic disc).

    Grey masks follow the REFUGE convention 0 = cup, 128 = rim, 255 = background; colour masks (already
    cropped releases) mark the cup with green == 255, as in the original code (the rim is not marked).
    A 16-bit grey mask holding values above 255 is on the 16-bit scale (0, 32896, 65535) and is read
    as ``value * 255 / 65535`` (Pillow's ``convert("L")`` would clip the rim to 255, background).
    """
    from PIL import Image

    with Image.open(path) as im:
        _single_page(im, path)
        _refuse_turned_tiff(im, path)
        if im.mode in ("RGB", "RGBA", "P"):
            rgb = np.asarray(im.convert("RGB"))
            if not (rgb[..., 0] == rgb[..., 1]).all():
                return (rgb[..., 1] == 255).astype(np.uint8)
            grey = rgb[..., 0]
        elif im.mode in _WIDE_MODES:
            grey = _refuge_wide_grey(np.asarray(im), path)
        else:
            grey = np.asarray(im.convert("L"))
    return (grey == 0).astype(np.uint8) * 1 + ((grey > 0) & (grey < 255)).astype(np.uint8) * 2


def _refuge_wide_grey(array: np.ndarray, path: Path) -> np.ndarray:
    """A 16-bit, 32-bit or float REFUGE grey mask on the 8-bit scale: values up to 255 as they are, else x 255/65535.

    Raises:
        DatasetError: values outside 0..65535 (or not finite), which no REFUGE mask holds.
    """
    values = array.astype(np.float64)
    if values.size and (not np.isfinite(values).all() or values.min() < 0 or values.max() > 65535):
        raise DatasetError(f"{path}: the REFUGE2 mask holds values outside 0..65535 ({values.min():g}..{values.max():g}); "
                           "save it as an 8-bit grey PNG (0 = cup, 128 = rim, 255 = background).")
    if values.size and values.max() > 255:  # the 16-bit scale: 65535 = background
        values = values * (255.0 / 65535.0)
    return np.rint(values).astype(np.uint8)
