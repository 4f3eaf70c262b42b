"""A case's class-index labels on its own in-plane grid, for scoring there (``sdseg-eval --grid native``).

The training slices hold the labels resized to ``data.size`` by nearest neighbour; the original's published
Dice was computed on such resized labels (the method spec lists it among the defects not to reproduce).
These readers give the labels as the files hold them, through the same reorientation (volumes: LPS) or
crop (REFUGE2) and the same class mapping as the training slices, without the resize.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .labels import integral_labels, map_labels

__all__ = ["volume_native_labels", "picture_native_labels"]


def volume_native_labels(lab_path: Path, lut: np.ndarray) -> np.ndarray:
    """Class indices uint8 (K, J, I) of a label volume reoriented to LPS (the training slices' frame)."""
    from .preprocess import read_oriented

    lab, _ = read_oriented(str(lab_path))
    return map_labels(lut, integral_labels(lab, Path(lab_path), wide=True))


def picture_native_labels(img_path: Path, mask_path: Path, lut: np.ndarray, mask_rule: Callable[[Path], np.ndarray],
                          crop: Optional[Callable] = None) -> np.ndarray:
    """Class indices uint8 (1, H, W) of a 2-D mask at its own size (after the crop, when the kind crops)."""
    raw = mask_rule(mask_path)
    if crop is not None:
        from .preprocess import read_picture

        rows, cols = crop(read_picture(img_path), raw)
        raw = raw[rows, cols]
    return np.asarray(lut)[np.asarray(raw).astype(np.int64)][None].astype(np.uint8)
