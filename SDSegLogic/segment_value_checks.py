"""Whole-image value checks for colour (``rgb``) models, made once per image before any slice is mapped."""

from __future__ import annotations

import warnings
from typing import Optional, Tuple

__all__ = ["DIM_PICTURE_MAX", "warn_if_dim_picture"]

#: a picture for an ``rgb`` model whose brightest value is below this (of 0..255) is nearly black to the model
DIM_PICTURE_MAX = 32.0


def warn_if_dim_picture(card, value_range: Tuple[float, float], source: str = "image") -> Optional[str]:
    """Warn when an ``rgb`` model receives a picture that uses only the bottom of its 0..255 scale.

    The model maps ``x / 255 * 2 - 1``, so a 12-bit picture saved in 16 bits (read as 0..65535 and scaled
    to 0..255, so 0..16) or a float picture in 0..1 reaches the network as a nearly black image and is
    segmented as one, without a word.

    Args:
        card: the model card (only ``intensity.kind == "rgb"`` is checked).
        value_range: ``(min, max)`` of the whole image as the engine maps it (finite).
        source: name used in messages.

    Returns:
        The warning message, or ``None``.
    """
    if card.intensity.kind != "rgb":
        return None
    low, high = value_range
    if high >= DIM_PICTURE_MAX:
        return None
    message = (f"{source}: the picture's values range {low:g}..{high:g}, only the bottom of the 0..255 scale the "
               "model expects, so it sees a nearly black picture. A 12-bit picture saved in 16 bits (read as "
               "0..65535 and scaled to 0..255) or a float picture in 0..1 does this: save the picture as 8 bits "
               "per channel using its full range (or scale 16-bit values to fill 0..65535).")
    warnings.warn(message, stacklevel=2)
    return message
