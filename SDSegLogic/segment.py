"""The volume pipeline: a 3-D (or 2-D) image in, labels on exactly the input's voxels out.

Steps of :func:`segment_array`:
validate -> plan (:func:`~SDSegLogic.segment_plan.plan_segmentation`) -> NaN/inf policy ->
reorient to the card's orientation (axis permutation/flip only) -> for each batch of slices along
the model's slicing axis: channels -> intensity mapping -> resize to S x S -> predictor ->
resize probabilities back -> threshold (binary) or argmax (multi-class) -> inverse reorientation.

The model is anything that satisfies :class:`SlicePredictor`, so tests can pass a deterministic
stand-in and check geometry independently of model quality.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

import numpy as np

from .errors import CancelledError, GeometryError, InputError, ModelCardError
from .geometry import ImageGeometry
from .preprocessing import (LUMINANCE, check_finite, map_intensity, resize_back, resize_slices, to_network_channels,
                            warn_if_raw_ct)
from .segment_plan import SegmentationPlan, SliceRange, plan_segmentation

__all__ = ["SlicePredictor", "SegmentationResult", "SegmentationPlan", "segment_array", "plan_segmentation"]

logger = logging.getLogger(__name__)


class SlicePredictor(Protocol):
    """What the volume pipeline needs from a model; ``SDSegPipeline`` satisfies it.

    Attributes:
        model_card: the :class:`~SDSegLogic.model_card.ModelCard` (orientation, intensity, classes).
        config: has ``sample_size``, the square input size S.
    """

    model_card: Any
    config: Any

    def predict_probabilities(self, images: np.ndarray, num_inference_steps: int = 1, num_samples: int = 1,
                              seed: int = 0) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """images float32 (B, 3, S, S) in [-1, 1] -> (probabilities, variance or None), each float32 (B, C, S, S).

        C = 1 for a binary model (foreground probability), else the number of network classes
        (softmax, index 0 = background). The noise must not depend on the batch composition.
        """
        ...


@dataclass(frozen=True)
class SegmentationResult:
    """A segmentation on the input image's grid.

    Attributes:
        labels: uint8 (K, J, I) with the card's label values (0 = background).
        probabilities: float32 (K, J, I) foreground probability for a binary model, or
            (C, K, J, I) class probabilities (index 0 = background) for a multi-class model.
        variance: per-voxel variance across samples, same shape as ``probabilities``, or None.
        geometry: the input geometry (the same object, never recomputed).
        voxel_counts: class name -> number of voxels labelled with it.
        model_id / model_version: from the card.
        seed / num_inference_steps / num_samples: sampling settings (reproducibility).
        warnings: messages issued while segmenting.
        plan: the decisions that were applied.
    """

    labels: np.ndarray
    probabilities: np.ndarray
    variance: Optional[np.ndarray]
    geometry: ImageGeometry
    voxel_counts: Dict[str, int] = field(default_factory=dict)
    model_id: str = ""
    model_version: str = ""
    seed: int = 0
    num_inference_steps: int = 1
    num_samples: int = 1
    warnings: Tuple[str, ...] = ()
    plan: Optional[SegmentationPlan] = None


def _intensity_reference(volume: np.ndarray, card: Any, mode: str) -> Optional[np.ndarray]:
    """Volume-wide (min, max) for min-max mapping, on the values the network channels are built from."""
    if card.intensity.kind != "minmax":
        return None
    if mode == "luminance":
        lum = volume @ np.asarray(LUMINANCE, dtype=np.float32)
        return np.array([lum.min(), lum.max()], dtype=np.float32)
    return np.array([volume.min(), volume.max()], dtype=np.float32)


def _check_output(probs: np.ndarray, variance: Optional[np.ndarray], batch: int, classes: int, size: int,
                  card: Any) -> None:
    expected = (batch, classes, size, size)
    if tuple(np.shape(probs)) != expected:
        raise ModelCardError(f"model {card.model_id!r}: the predictor returned probabilities of shape {np.shape(probs)}, "
                             f"expected {expected} (B, C, S, S); the weights and the model card disagree.")
    if variance is not None and tuple(np.shape(variance)) != expected:
        raise ModelCardError(f"model {card.model_id!r}: variance shape {np.shape(variance)} != {expected}.")
    if not np.all(np.isfinite(probs)):
        raise ModelCardError(f"model {card.model_id!r}: the predictor returned NaN/inf probabilities; the weights are "
                             "broken or were run in too low a precision.")


def segment_array(array: np.ndarray, geometry: ImageGeometry, predictor: SlicePredictor, *,
                  slices: SliceRange = None, batch_size: int = 8, num_inference_steps: int = 1, num_samples: int = 1,
                  seed: int = 0, progress: Optional[Callable[[int, int], None]] = None,
                  should_cancel: Optional[Callable[[], bool]] = None, nan_policy: str = "reject",
                  strict_channels: bool = False, max_bytes: Optional[int] = None,
                  source: str = "image") -> SegmentationResult:
    """Segment a volume slice by slice and return labels on exactly the input's voxels.

    Args:
        array: float (K, J, I) scalar volume or (K, J, I, 3) colour image, indexed like
            ``SimpleITK.GetArrayFromImage``; a 2-D picture has K = 1. Not modified.
        geometry: its grid in LPS; copied unchanged into the result.
        predictor: a :class:`SlicePredictor` (its ``model_card`` drives every decision).
        slices: segment only this range, given in INPUT voxel indices along the input axis that
            becomes the model's slicing axis (for an axial model and an axial scan, the k index
            shown in Slicer), as ``"A:B"``, ``(A, B)`` or ``slice(A, B)``, half-open, negative
            values from the end. Slices outside get label 0 and probability 0.
        batch_size: slices per predictor call (does not change the result).
        num_inference_steps, num_samples, seed: passed to the predictor; recorded in the result.
        progress: ``progress(done_slices, total_slices)`` after each batch.
        should_cancel: checked before each batch; True raises :class:`CancelledError`.
        nan_policy: ``"reject"`` (default) or ``"fill"`` (window minimum, with a warning).
        strict_channels: reject a colour/grayscale mismatch instead of adapting it.
        max_bytes: memory budget checked before any allocation.
        source: name of the input used in messages (e.g. its file name).

    Returns:
        :class:`SegmentationResult` with labels uint8 (K, J, I) on ``geometry``.

    Raises:
        InputError, GeometryError: invalid input (see ``SDSegLogic.io`` policy table).
        ModelCardError: the predictor's output does not match its card.
        CancelledError: ``should_cancel()`` returned True.
    """
    card = predictor.model_card
    size = int(predictor.config.sample_size)
    array = np.asarray(array)
    if not isinstance(geometry, ImageGeometry):
        raise GeometryError(f"{source}: geometry must be an ImageGeometry, got {type(geometry).__name__}.")
    is_rgb = array.ndim == 4
    if array.ndim not in (3, 4) or (is_rgb and array.shape[3] != 3):
        raise InputError(f"{source}: array of shape {array.shape} must be (K, J, I) or (K, J, I, 3); pick one frame "
                         "of a 4-D image and drop any alpha channel.")
    if array.dtype.kind not in "biuf":
        raise InputError(f"{source}: voxel type {array.dtype} is not supported; give real-valued voxels.")
    notes: List[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = plan_segmentation(array.shape, geometry, card, model_size=size, is_rgb=is_rgb, slices=slices,
                                 batch_size=batch_size, num_samples=num_samples, strict_channels=strict_channels,
                                 max_bytes=max_bytes, source=source)
        notes.extend(plan.warnings)
        volume, _ = check_finite(array.astype(np.float32, copy=False), card.intensity, nan_policy, source)
        warn_if_raw_ct(volume, card, source)
        reference = _intensity_reference(volume, card, plan.channel_mode)
        if reference is not None:
            map_intensity(reference, card.intensity, source)  # warns once if the image is constant
    notes.extend(str(w.message) for w in caught)
    for note in notes:
        warnings.warn(note, stacklevel=2)
    logger.info("segmenting %s:\n%s", source, plan.describe())

    rplan = plan.reorientation
    data = rplan.apply(volume)
    classes, (height, width) = plan.num_classes, plan.in_plane
    target_shape = rplan.target.array_shape
    probs = np.zeros((classes,) + target_shape, dtype=np.float32)
    variance = np.zeros_like(probs) if num_samples > 1 else None
    got_variance = False
    start, stop = plan.model_range
    total, done = stop - start, 0
    for first in range(start, stop, batch_size):
        if should_cancel is not None and should_cancel():
            raise CancelledError(f"{source}: cancelled after {done} of {total} slices; nothing was written.")
        last = min(first + batch_size, stop)
        x = to_network_channels(data[first:last], plan.channel_mode)
        x = resize_slices(map_intensity(x, card.intensity, source, reference, quiet=True), size)
        p, v = predictor.predict_probabilities(x, num_inference_steps=num_inference_steps, num_samples=num_samples,
                                               seed=seed)
        _check_output(p, v, last - first, classes, size, card)
        probs[:, first:last] = np.moveaxis(resize_back(p, (height, width)), 1, 0)
        if v is not None and variance is not None:
            variance[:, first:last] = np.moveaxis(resize_back(v, (height, width)), 1, 0)
            got_variance = True
        done += last - first
        if progress is not None:
            progress(done, total)

    values = np.asarray(card.label_values(), dtype=np.uint8)
    if classes == 1:
        labels_r = np.where(probs[0] > card.threshold, values[1], 0).astype(np.uint8)
    else:
        labels_r = values[np.argmax(probs, axis=0)]
        outside = np.ones(target_shape[0], dtype=bool)
        outside[start:stop] = False
        labels_r[outside] = 0
    labels = np.ascontiguousarray(rplan.invert(labels_r))
    probabilities = np.ascontiguousarray(rplan.invert(probs, leading=1))
    variance_out = np.ascontiguousarray(rplan.invert(variance, leading=1)) if got_variance else None
    if classes == 1:
        probabilities = probabilities[0]
        variance_out = variance_out[0] if variance_out is not None else None
    if labels.shape != geometry.array_shape:  # guarantee G1, checked in code and not only in tests
        raise GeometryError(f"{source}: internal error, labels {labels.shape} != input grid {geometry.array_shape}.")
    counts = {c.name: int(np.count_nonzero(labels == c.label_value)) for c in card.classes}
    if not any(counts.values()):
        message = f"{source}: no foreground was found; the segmentation is empty."
        warnings.warn(message, stacklevel=2)
        notes.append(message)
    return SegmentationResult(
        labels=labels, probabilities=probabilities, variance=variance_out, geometry=geometry, voxel_counts=counts,
        model_id=card.model_id, model_version=card.version, seed=int(seed),
        num_inference_steps=int(num_inference_steps), num_samples=int(num_samples), warnings=tuple(notes), plan=plan,
    )
