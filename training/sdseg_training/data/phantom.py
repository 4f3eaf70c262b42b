"""Deterministic synthetic phantoms with known masks: low contrast, noise, varied shapes, thin lines.

Every phantom is a pure function of ``(seed, index)`` (NumPy ``SeedSequence``), so the same call
gives the same pixels on every machine. Classes: 1 = a blob (ellipse with a wavy boundary, or
two overlapping ones), 2 = a thin curved structure (1-3 px wide). The foreground differs from a
smoothly varying background by a small offset (contrast-to-noise about 1-2).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

__all__ = ["phantom_image", "phantom_volume", "PHANTOM_CLASSES"]

PHANTOM_CLASSES = ("blob", "vessel")


def _grid(size: int) -> Tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return y / (size - 1) * 2 - 1, x / (size - 1) * 2 - 1


def _blob(y: np.ndarray, x: np.ndarray, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    cy, cx = rng.uniform(-0.45, 0.45, 2)
    a, b = rng.uniform(0.15, 0.4, 2) * scale
    theta = rng.uniform(0, np.pi)
    yr = (y - cy) * np.cos(theta) - (x - cx) * np.sin(theta)
    xr = (y - cy) * np.sin(theta) + (x - cx) * np.cos(theta)
    angle = np.arctan2(yr, xr)
    wobble = 1 + 0.15 * np.sin(rng.integers(2, 6) * angle + rng.uniform(0, 2 * np.pi))
    return (yr / a) ** 2 + (xr / b) ** 2 <= wobble**2


def _vessel(y: np.ndarray, x: np.ndarray, rng: np.random.Generator, size: int, width_px: float) -> np.ndarray:
    # a sinusoidal curve crossing the image; width in pixels
    amp, freq, phase, offset = rng.uniform(0.1, 0.4), rng.uniform(0.5, 2.0), rng.uniform(0, 2 * np.pi), rng.uniform(-0.5, 0.5)
    curve = offset + amp * np.sin(np.pi * freq * x + phase)
    half = width_px / (size - 1)  # half-width in normalised units = width/2 * (2/(size-1))
    mask = np.abs(y - curve) <= half
    return mask if rng.random() < 0.5 else mask.T


def phantom_image(seed: int, index: int, size: int = 64, contrast: float = 0.25, noise: float = 0.15) -> Tuple[np.ndarray, np.ndarray]:
    """One 2D phantom.

    Args:
        seed, index: determine the phantom completely.
        size: side length in pixels.
        contrast: foreground offset (in [-1, 1] image units) before noise.
        noise: Gaussian noise standard deviation.

    Returns:
        (image float32 (size, size) in [-1, 1], labels uint8 (size, size) with 0, 1 = blob, 2 = vessel).
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, 2]))
    y, x = _grid(size)
    labels = np.zeros((size, size), np.uint8)
    blob = _blob(y, x, rng)
    if rng.random() < 0.3:
        blob |= _blob(y, x, rng, scale=0.6)
    labels[blob] = 1
    labels[_vessel(y, x, rng, size, rng.uniform(1.0, 3.0))] = 2
    background = -0.2 + 0.2 * (rng.uniform(-1, 1) * y + rng.uniform(-1, 1) * x)
    sign = rng.choice([-1.0, 1.0])
    image = background + sign * contrast * (labels > 0) + rng.normal(0, noise, (size, size))
    return np.clip(image, -1, 1).astype(np.float32), labels


def phantom_volume(seed: int, index: int, size: int = 64, depth: int = 16, contrast: float = 0.25, noise: float = 0.15) -> Tuple[np.ndarray, np.ndarray]:
    """One 3D phantom: an ellipsoid (class 1) and a thin tube (class 2) that wanders along z.

    Returns:
        (volume float32 (depth, size, size) in [-1, 1], labels uint8 (depth, size, size)).
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, 3]))
    y, x = _grid(size)
    c = rng.uniform(-0.3, 0.3, 3)
    r = rng.uniform(0.25, 0.5, 3)
    tube_y0, tube_x0 = rng.uniform(-0.6, 0.6, 2)
    dy, dx = rng.uniform(-0.5, 0.5, 2)
    width = rng.uniform(1.5, 3.0) / (size - 1) * 2
    sign = rng.choice([-1.0, 1.0])
    vol = np.zeros((depth, size, size), np.float32)
    lab = np.zeros((depth, size, size), np.uint8)
    for k in range(depth):
        zk = k / max(depth - 1, 1) * 2 - 1
        inside = ((y - c[0]) / r[0]) ** 2 + ((x - c[1]) / r[1]) ** 2 + ((zk - c[2]) / r[2]) ** 2 <= 1
        tube = (y - (tube_y0 + dy * zk)) ** 2 + (x - (tube_x0 + dx * zk)) ** 2 <= width**2
        lab[k][inside] = 1
        lab[k][tube] = 2
        vol[k] = -0.2 + 0.1 * y + sign * contrast * (lab[k] > 0) + rng.normal(0, noise, (size, size))
    return np.clip(vol, -1, 1), lab
