"""Storing the predicted batches of :func:`~SDSegLogic.segment.segment_array` into the outputs on the input grid.

:class:`_BatchSink` resizes each batch's soft maps back to the native in-plane grid, thresholds
(binary) or takes the argmax (multi-class) into the labels, counts the voxels of each label value
and stores the soft maps and variance that the caller keeps: all C class maps, or with
``collapse_classes`` only what ``sdseg segment --prob-map/--uncertainty`` write (P(any segment)
and the variance summed over classes), so a multi-class run keeps one map instead of C.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import numpy as np

from .device_postprocess import NativeBatch
from .slice_resize import resize_back

__all__ = ["_BatchSink", "_first_argmax", "collapse_probabilities", "collapse_variance"]


def collapse_probabilities(native: np.ndarray) -> np.ndarray:
    """float32 (B, C, H, W) class probabilities (C > 1) -> float32 (B, 1, H, W) P(any segment) = 1 - P(background)."""
    return 1.0 - native[:, :1]


def collapse_variance(native: np.ndarray) -> np.ndarray:
    """float32 (B, C, H, W) per-class variance -> float32 (B, 1, H, W) summed over classes, class 0 first.

    Added one class at a time in class order, as ``numpy.sum`` over the class axis of the stacked maps.
    """
    total = native[:, :1].copy()
    for c in range(1, native.shape[1]):
        total += native[:, c:c + 1]
    return total


class _BatchSink:
    """Post-processing of one predicted batch, writing into disjoint slabs of the outputs.

    For the reoriented slices ``first:last`` it resizes the probabilities (and variance) back to
    the native in-plane grid, stores them, thresholds (binary) or takes the argmax (multi-class)
    into the labels and counts the voxels of each label value. Batches touch disjoint slabs, so
    the result does not depend on the order or the thread in which batches are stored.

    Args:
        labels: uint8 (K', J', I') reoriented VIEW of the input-grid labels (written through).
        probabilities: float32 (C', K', J', I') reoriented view of the input-grid probabilities, or
            None to keep only the labels (each batch's native soft maps are then temporary).
            C' = 1 when ``collapse_classes`` (or a binary model), else C.
        variance: like ``probabilities`` or None.
        in_plane: native (H, W) = (J', I') of a reoriented slice.
        values: uint8 label value of each network class (index 0 = background = 0).
        threshold: foreground threshold of a binary model.
        collapse_classes: for a multi-class model store P(any segment) = 1 - P(background) and the
            variance summed over classes (one map each) instead of all C class maps.
        align_corners: resize back with the first and last pixels aligned (a ``corners-bilinear``
            card, :func:`SDSegLogic.input_resize.back_align_corners`), else with pixel centres aligned.
    """

    def __init__(self, labels: np.ndarray, probabilities: Optional[np.ndarray], variance: Optional[np.ndarray],
                 in_plane: Tuple[int, int], values: np.ndarray, threshold: float,
                 collapse_classes: bool = False, align_corners: bool = False) -> None:
        self.labels, self.probabilities, self.variance = labels, probabilities, variance
        self.in_plane, self.values, self.threshold = tuple(in_plane), values, threshold
        self.collapse_classes, self.align_corners = bool(collapse_classes), bool(align_corners)
        self.got_variance = False
        self._counts: Dict[int, int] = {}

    @property
    def counts(self) -> Dict[int, int]:
        """label value -> voxels labelled with it (background excluded), over all stored batches."""
        return dict(self._counts)

    def __call__(self, first: int, last: int, p: Union[np.ndarray, NativeBatch], v: Optional[np.ndarray]) -> None:
        """Store float32 (B, C, S, S) probabilities ``p`` (variance ``v`` or None) of slices first:last.

        ``p`` may instead be a :class:`NativeBatch` that the predictor already resized and
        labelled on its device; it is then only stored and counted.
        """
        if isinstance(p, NativeBatch):
            native, slab, v_native = p.probabilities, p.labels, p.variance
        else:
            native = resize_back(p, self.in_plane, self.align_corners)  # (B, C, H, W)
            v_native = None if v is None or self.variance is None else resize_back(v, self.in_plane,
                                                                                    self.align_corners)  # only if kept
            if native.shape[1] == 1:
                # == np.where(p > threshold, values[1], 0) without an int64 temporary
                slab = np.multiply(native[:, 0] > self.threshold, self.values[1], dtype=np.uint8)
            else:
                slab = np.take(self.values, _first_argmax(native))
        if self.probabilities is not None:
            kept = collapse_probabilities(native) if self.collapse_classes and native.shape[1] > 1 else native
            self.probabilities[:, first:last] = np.moveaxis(kept, 1, 0)
        if v_native is not None and self.variance is not None:
            kept = collapse_variance(v_native) if self.collapse_classes and v_native.shape[1] > 1 else v_native
            self.variance[:, first:last] = np.moveaxis(kept, 1, 0)
            self.got_variance = True
        self.labels[first:last] = slab
        for value in np.unique(self.values[1:]).tolist():
            self._counts[value] = self._counts.get(value, 0) + int(np.count_nonzero(slab == value))


def _first_argmax(p: np.ndarray) -> np.ndarray:
    """``np.argmax(p, axis=1)`` as uint8 for finite float (B, C, H, W), C <= 256, one class at a time.

    Ties go to the lowest class index, exactly as ``np.argmax``; this avoids argmax along a
    strided axis and its int64 result.
    """
    best = p[:, 0].copy()
    index = np.zeros(best.shape, dtype=np.uint8)
    for c in range(1, p.shape[1]):
        better = p[:, c] > best
        np.copyto(best, p[:, c], where=better)
        index[better] = c
    return index
