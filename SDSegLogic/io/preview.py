"""A PNG preview: class-coloured mask outlines over the slices with the most foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional, Union

import numpy as np

from ..errors import InputError
from ..geometry import reorient
from .atomic import atomic_output, check_output_path

__all__ = ["write_preview", "representative_slices"]


def representative_slices(labels: np.ndarray, count: int = 3) -> List[int]:
    """Indices k of the ``count`` slices of ``labels`` (K, J, I) with the most foreground, ascending.

    With no foreground at all, the middle slice is returned.
    """
    per_slice = np.count_nonzero(labels.reshape(labels.shape[0], -1), axis=1)
    if not per_slice.any():
        return [labels.shape[0] // 2]
    order = np.argsort(-per_slice, kind="stable")
    chosen = [int(k) for k in order[:count] if per_slice[k] > 0]
    return sorted(chosen)


def _display(image: np.ndarray, card: Any, is_rgb: bool) -> np.ndarray:
    """One slice (J, I) or (J, I, 3) -> uint8 RGB (J, I, 3), CT windowed with the card's window."""
    x = np.nan_to_num(np.asarray(image, dtype=np.float32))
    if is_rgb:
        return np.clip(x, 0, 255).astype(np.uint8)
    if card.intensity.kind == "window":
        low, high = float(card.intensity.low), float(card.intensity.high)
    else:
        low, high = float(x.min()), float(x.max())
    scaled = (np.clip(x, low, high) - low) / max(high - low, 1e-6) * 255.0
    return np.repeat(scaled.astype(np.uint8)[..., None], 3, axis=2)


def _erode(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1, constant_values=False)
    return mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]


def _outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels of ``mask`` (J, I) bool within ``width`` pixels of its boundary (4-neighbourhood)."""
    interior = mask
    for _ in range(width):
        interior = _erode(interior)
    return mask & ~interior


def write_preview(path: Union[str, Path], image_data: Any, result: Any, card: Any, *, max_slices: int = 3,
                  input_path: Optional[Union[str, Path]] = None) -> Path:
    """Write a PNG with class-coloured outlines over up to ``max_slices`` representative slices.

    Volumes are shown as axial slices in the radiological convention (patient right on the left of
    the picture, anterior at the top: the grid reoriented to LPS without resampling), side by side,
    in the card's window; photos are shown as they are. The representative slices are those with
    the most foreground (the middle slice when the segmentation is empty).

    Args:
        path: output ``.png`` (written atomically).
        image_data: :class:`~SDSegLogic.io.readers.ImageData` that was segmented.
        result: its :class:`~SDSegLogic.segment.SegmentationResult` (labels (K, J, I)).
        card: the model card (window, class colours).
        max_slices: at most this many panels.
        input_path: the segmented image; writing over it is refused.

    Returns:
        The path written.
    """
    from PIL import Image

    path = check_output_path(path, input_path if input_path is not None else getattr(image_data, "source", None))
    if not path.name.lower().endswith(".png"):
        raise InputError(f"{path}: a preview is a PNG; use a name ending in .png.")
    labels = np.asarray(result.labels)
    array = np.asarray(image_data.array)
    if labels.shape != array.shape[:3]:
        raise InputError(f"{path}: labels {labels.shape} and image {array.shape[:3]} differ; pass the image that was "
                         "segmented.")
    if not image_data.is_rgb and not (getattr(image_data, "metadata", None) or {}).get("is_2d", False):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # obliquity was already reported when segmenting
            array, _, plan = reorient(array, image_data.geometry, "LPS")
        labels = plan.apply(labels)
    colours = {c.label_value: np.round(np.asarray(c.color) * 255).astype(np.uint8) for c in card.classes}
    width = max(1, round(max(labels.shape[1:]) / 400))  # outline thickness grows with the picture
    panels = []
    for k in representative_slices(labels, max(1, int(max_slices))):
        factor = max(1, 256 // max(labels.shape[1:]))  # enlarge tiny images (nearest neighbour)
        rgb = _display(array[k], card, bool(image_data.is_rgb))
        rgb = np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)
        plane = np.repeat(np.repeat(labels[k], factor, axis=0), factor, axis=1)
        for value, colour in colours.items():
            rgb[_outline(plane == value, width=width + 1)] = colour
        panels.append(rgb)
    gap = np.full((panels[0].shape[0], 4, 3), 255, dtype=np.uint8)
    strip = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
    with atomic_output(path) as tmp:
        Image.fromarray(strip).save(tmp, format="PNG")
    return path
