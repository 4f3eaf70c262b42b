"""2-D photos (PNG, JPEG, TIFF, BMP) read with Pillow into (1, H, W[, C]) arrays."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import InputError

__all__ = ["photo_size", "read_photo", "max_photo_pixels"]


def _open(path: Path):
    """Open a picture (header only); refuse one too large for Pillow before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except Image.DecompressionBombError:
        raise InputError(_too_large_message(path)) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable image ({exc}); re-export the picture.") from None


def max_photo_pixels() -> int:
    """Largest width x height a 2-D picture may have: the limit above which Pillow refuses to decode."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    return 2 * int(limit) if limit else 0


def _header_size(path: Path) -> Optional[Tuple[int, int]]:
    """(width, height) parsed by the Pillow plugin that accepts the file, skipping the size guard."""
    from PIL import Image

    Image.init()
    with open(path, "rb") as fh:
        prefix = fh.read(16)
        for factory, accept in list(Image.OPEN.values()):
            verdict = accept(prefix) if accept is not None else True
            if not verdict or isinstance(verdict, str):
                continue
            fh.seek(0)
            try:
                return tuple(factory(fh, str(path)).size)
            except Exception:  # noqa: BLE001 - any plugin failure just means "not this format"
                continue
    return None


def _too_large_message(path: Path) -> str:
    size = _header_size(path)
    claimed = f"{size[0]:,} x {size[1]:,} pixels ({size[0] * size[1]:,})" if size else "more pixels than allowed"
    return (f"{path}: the picture's header claims {claimed}, more than the limit of {max_photo_pixels():,} pixels "
            "for a 2-D picture (nothing was decoded). Downscale or crop the picture, or save it as a volume "
            "(NRRD/NIfTI); if it should be small, the file is corrupt, re-export it.")


def photo_size(path: Path) -> Tuple[int, int, int, int]:
    """(width, height, bands, frames) from the file header, without decoding pixels."""
    with _open(path) as img:
        return img.size[0], img.size[1], len(img.getbands()), int(getattr(img, "n_frames", 1))


def _drop_opaque_alpha(path: Path, array: np.ndarray) -> np.ndarray:
    """The gray plane of an (H, W, 2) gray + alpha picture whose alpha is fully opaque.

    Raises:
        InputError: some pixels are (partly) transparent.
    """
    if not np.all(array[..., 1] == np.iinfo(array.dtype).max):
        raise InputError(f"{path}: the picture has a transparent alpha channel; flatten it onto a background and "
                         "save it as a gray picture without alpha.")
    warnings.warn(f"{path}: dropped an all-opaque alpha channel.", stacklevel=4)
    return np.ascontiguousarray(array[..., 0])


def read_photo(path: Path, frame: Optional[int]) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Decode a 2-D picture.

    Returns:
        ``(array, facts)``: array (1, H, W) for gray or (1, H, W, C) for colour with C in {3, 4}, in
        the file's dtype (uint8, uint16, int32 or float32; a 16-bit gray PNG is uint16); row 0 is the
        top of the picture. :func:`SDSegLogic.io.readers.read_image` scales uint16 to 0..255.

    Raises:
        InputError: undecodable or truncated file; multi-page file without ``frame``.
    """
    with _open(path) as img:
        frames = int(getattr(img, "n_frames", 1))
        if frames > 1 and frame is None:
            raise InputError(f"{path}: {frames} pages/frames; choose one with frame=0..{frames - 1} (--frame N; --frame all: every page).")
        if frame is not None:
            if not 0 <= frame < frames:
                raise InputError(f"{path}: frame={frame} is out of range; the file has frames 0..{frames - 1}.")
            img.seek(frame)
        mode = img.mode
        try:
            if mode in ("P", "PA"):
                img = img.convert("RGBA" if "transparency" in img.info or mode == "PA" else "RGB")
            elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                img = img.convert("RGB")
            elif mode == "1":
                img = img.convert("L")
            array = np.asarray(img)
            if mode == "I" and img.format == "PNG":
                array = array.astype(np.uint16)  # older Pillow opens 16-bit gray PNG as 32-bit "I"
        except (OSError, ValueError, SyntaxError) as exc:
            raise InputError(f"{path}: the picture is truncated or corrupt ({exc}); re-export it.") from None
    if mode == "LA":  # gray + alpha stays gray: the alpha goes, as for RGBA, if it is fully opaque
        array = _drop_opaque_alpha(path, array)
    if array.ndim not in (2, 3):
        raise InputError(f"{path}: unexpected pixel layout {array.shape}; save a gray or RGB picture.")
    return array[None], {"original_mode": mode, "original_dtype": str(array.dtype), "frames": frames}
