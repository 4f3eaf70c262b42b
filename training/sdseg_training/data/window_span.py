"""Name an STS-3D volume whose values do not reach both ends of the window (official inputs differ there).

The official STS-3D preprocessing (lin-tianyu/Stable-Diffusion-Seg ``data/sts3d/sts3d_preprocess.py``,
``process_pipe``) clips each whole volume to the window [-100, 1100] and then min-max normalises that volume
to [0, 1] (``(x - min) / (max - min + 1e-8)``), for the training slices and the test volumes alike; the
loader then maps [0, 1] to [-1, 1]. This package, like the engine's model card, maps a fixed window:
``(clip(x) - low) / (high - low)``. The two agree exactly when the volume reaches ``low`` and ``high``
(the clipped minimum and maximum are then the window's ends); otherwise the official inputs were stretched
to full contrast and ours are not. A volume stored as unit-interval floats (0..1) under the window
[-100, 1100] becomes an almost constant image near -0.83, where the official code saw a full [-1, 1] one.

Per-volume min-max cannot be a card's intensity mapping (the engine maps a fixed window), so the remedy is
a ``data.window`` that the stored values span, named in the warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

__all__ = ["minmax_gap", "warn_unspanned_window", "GAP_WARN"]

#: Warn when the official and our inputs differ by more than this on the [-1, 1] scale (2.5 % of it).
GAP_WARN = 0.05


def minmax_gap(volume: np.ndarray, low: float, high: float) -> float:
    """Largest difference, on the [-1, 1] scale, between the official per-volume min-max inputs and ours.

    Both are affine in the clipped value, so the difference is largest at the clipped minimum or maximum:
    ``2 * max(min - low, high - max) / (high - low)`` (a constant volume: the official maps it to -1).

    Args:
        volume: the image as read, any shape, finite.
        low, high: the window (``high > low``).

    Returns:
        The gap, >= 0 (0 when the volume reaches both ends of the window).
    """
    lo, hi = float(np.min(volume)), float(np.max(volume))
    m, big_m = min(max(lo, low), high), max(min(hi, high), low)
    top = 0.0 if big_m <= m else high - big_m
    return 2.0 * max(m - low, top) / (high - low)


def warn_unspanned_window(volume: np.ndarray, path: Path, low: float, high: float) -> None:
    """Warn (naming ``path``, its value range and the window to set) when :func:`minmax_gap` exceeds :data:`GAP_WARN`."""
    gap = minmax_gap(volume, low, high)
    if gap <= GAP_WARN:
        return
    lo, hi = float(np.min(volume)), float(np.max(volume))
    m, big_m = min(max(lo, low), high), max(min(hi, high), low)
    warnings.warn(
        f"{path}: its values span [{lo:g}, {hi:g}], which does not reach both ends of the window [{low:g}, {high:g}] "
        f"(data.window). The official STS-3D preprocessing min-max normalised each windowed volume, so its inputs "
        f"differ from this run's by up to {gap:.2f} on the [-1, 1] scale (this volume maps to "
        f"[{(m - low) / (high - low) * 2 - 1:.2f}, {(big_m - low) / (high - low) * 2 - 1:.2f}] here, to [-1, 1] there). "
        f"Set data.window to the range the scans are stored in, e.g. [{m:g}, {big_m:g}] for this volume, so that "
        "the window's ends are the volume's as in the official inputs.", stacklevel=3)
