"""2-D photos (PNG, JPEG, TIFF, BMP) read with Pillow into (1, H, W[, C]) arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import InputError

__all__ = ["photo_size", "read_photo"]


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable image ({exc}); re-export the picture.") from None


def photo_size(path: Path) -> Tuple[int, int, int, int]:
    """(width, height, bands, frames) from the file header, without decoding pixels."""
    with _open(path) as img:
        return img.size[0], img.size[1], len(img.getbands()), int(getattr(img, "n_frames", 1))


def read_photo(path: Path, frame: Optional[int]) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Decode a 2-D picture.

    Returns:
        ``(array, facts)``: array (1, H, W) for gray or (1, H, W, C) for colour with C in {3, 4}, in
        the file's dtype (uint8, uint16, int32 or float32); row 0 is the top of the picture.

    Raises:
        InputError: undecodable or truncated file; multi-page file without ``frame``.
    """
    with _open(path) as img:
        frames = int(getattr(img, "n_frames", 1))
        if frames > 1 and frame is None:
            raise InputError(f"{path}: {frames} pages/frames; choose one with frame=0..{frames - 1} (--frame).")
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
            elif mode == "LA":
                img = img.convert("RGBA")
            array = np.asarray(img)
        except (OSError, ValueError, SyntaxError) as exc:
            raise InputError(f"{path}: the picture is truncated or corrupt ({exc}); re-export it.") from None
    if array.ndim not in (2, 3):
        raise InputError(f"{path}: unexpected pixel layout {array.shape}; save a gray or RGB picture.")
    return array[None], {"original_mode": mode, "original_dtype": str(array.dtype), "frames": frames}
