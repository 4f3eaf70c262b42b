"""The volume pipeline: a 3-D (or 2-D) image in, labels on exactly the input's voxels out.

Steps of :func:`segment_array`:
validate -> plan (:func:`~SDSegLogic.segment_plan.plan_segmentation`) -> NaN/inf policy ->
reorient to the card's orientation (axis permutation/flip only) -> for each batch of slices along
the model's slicing axis: channels -> intensity mapping -> resize to S x S -> predictor ->
resize probabilities back -> threshold (binary) or argmax (multi-class), written through
reoriented views straight into the outputs on the input grid (so no inverse reorientation copy).

On a CUDA predictor the resize back and threshold/argmax run on the GPU
(:mod:`SDSegLogic.device_postprocess`), and the host work of neighbouring batches runs in two
worker threads while the predictor runs (see :func:`~SDSegLogic.segment_loop._run_overlapped`);
the result is bit-identical to the sequential loop.

The model is anything that satisfies :class:`SlicePredictor`, so tests can pass a deterministic
stand-in and check geometry independently of model quality.
"""

from __future__ import annotations

import logging
import secrets
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

import numpy as np

from .device_postprocess import NativeBatch
from .input_resize import back_align_corners
from .errors import GeometryError, InputError, ModelCardError
from .geometry import ImageGeometry
from .preprocessing import (LUMINANCE, check_finite, check_float32_range, map_intensity, network_input, value_range,
                            warn_if_raw_ct)
from .segment_loop import _run_overlapped, _run_sequential, cancel_keyword
from .segment_options import check_segment_options
from .segment_plan import SegmentationPlan, SliceRange, plan_segmentation
from .segment_sink import _BatchSink
from .segment_value_checks import warn_if_dim_picture

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
        A predictor that also takes ``should_cancel`` gets the caller's, to check between its
        network calls (raising :class:`~SDSegLogic.errors.CancelledError`).
        """
        ...


@dataclass(frozen=True)
class SegmentationResult:
    """A segmentation on the input image's grid.

    Attributes:
        labels: uint8 (K, J, I) with the card's label values (0 = background).
        probabilities: float32 (K, J, I) foreground probability for a binary model, or
            (C, K, J, I) class probabilities (index 0 = background) for a multi-class model
            ((K, J, I) P(any segment) with ``collapse_classes``); None when the caller did not
            keep them (``keep_probabilities=False``).
        variance: per-voxel variance across samples, same shape as ``probabilities`` (summed over
            classes with ``collapse_classes``), or None.
        geometry: the input geometry (the same object, never recomputed).
        voxel_counts: class name -> number of voxels labelled with it.
        model_id / model_version: from the card.
        seed / num_inference_steps / num_samples: sampling settings (reproducibility).
        warnings: messages issued while segmenting.
        plan: the decisions that were applied.
    """

    labels: np.ndarray
    probabilities: Optional[np.ndarray]
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


def _check_native(batch: NativeBatch, count: int, classes: int, in_plane: Tuple[int, int], card: Any) -> None:
    """The device-side counterpart of :func:`_check_output` (shapes on the native grid, finiteness)."""
    if tuple(batch.labels.shape) != (count,) + tuple(in_plane):
        raise ModelCardError(f"model {card.model_id!r}: the predictor returned labels of shape {batch.labels.shape}, "
                             f"expected {(count,) + tuple(in_plane)}; the weights and the model card disagree.")
    if batch.probabilities is not None and tuple(batch.probabilities.shape) != (count, classes) + tuple(in_plane):
        raise ModelCardError(f"model {card.model_id!r}: probabilities of shape {batch.probabilities.shape} != "
                             f"{(count, classes) + tuple(in_plane)} (B, C, H, W); the weights and the model card disagree.")
    if not batch.finite:
        raise ModelCardError(f"model {card.model_id!r}: the predictor returned NaN/inf probabilities; the weights are "
                             "broken or were run in too low a precision.")


def _on_cuda(predictor: Any) -> bool:
    """Whether the predictor computes on a CUDA device (its ``device`` attribute, if any)."""
    device = getattr(predictor, "device", None)
    return str(getattr(device, "type", device) or "").startswith("cuda")


def segment_array(array: np.ndarray, geometry: ImageGeometry, predictor: SlicePredictor, *,
                  slices: SliceRange = None, batch_size: int = 8, num_inference_steps: int = 1, num_samples: int = 1,
                  seed: Optional[int] = 0, progress: Optional[Callable[[int, int], None]] = None,
                  should_cancel: Optional[Callable[[], bool]] = None, nan_policy: str = "reject",
                  strict_channels: bool = False, max_bytes: Optional[int] = None,
                  source: str = "image", overlap: Optional[bool] = None,
                  keep_probabilities: bool = True, device_postprocess: Optional[bool] = None, modality: str = "",
                  strict_modality: bool = False, keep_variance: bool = True,
                  collapse_classes: bool = False) -> SegmentationResult:
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
        batch_size: slices per predictor call. The float32 soft maps may differ in the last
            bits (~1e-7; kernels sum in another order), so a label can change only at a tie.
        num_inference_steps, num_samples, seed: passed to the predictor; recorded in the result.
            ``seed=None`` draws one random seed for the whole volume (every batch gets the same
            noise, as with a given seed) and records it, so the result can be reproduced.
        progress: ``progress(done_slices, total_slices)`` after each batch.
        should_cancel: checked before each batch, and by a predictor that takes it (as
            :class:`~SDSegLogic.pipeline.SDSegPipeline` does) before each of its network calls; True
            raises :class:`CancelledError`, within one network call.
        nan_policy: ``"reject"`` (default) or ``"fill"`` (window minimum, with a warning).
        strict_channels: reject a colour/grayscale mismatch instead of adapting it.
        max_bytes: memory budget checked before any allocation.
        source: name of the input used in messages (e.g. its file name).
        overlap: overlap host pre/post-processing with the predictor (worker threads prepare
            the next batch and store the previous one while the predictor runs). ``None``
            (default): only when the predictor's ``device`` is CUDA, where the host work would
            otherwise leave the GPU idle; on a CPU predictor both compete for the same cores.
            The result is bit-identical either way; the predictor, ``progress`` and
            ``should_cancel`` are always called from the calling thread, in the same order.
        keep_probabilities: return the soft maps on the input grid. ``False`` returns
            ``probabilities=None`` and never allocates the float32 (C, K, J, I) array (1.5 GB for
            7 classes on 512 x 512 x 200) nor copies each batch into it; the labels are identical.
        keep_variance: with ``num_samples > 1``, return the variance on the input grid. ``False``
            returns ``variance=None`` without allocating it (as large as the soft maps); the
            labels and soft maps are identical.
        collapse_classes: for a multi-class model keep only P(any segment) = 1 - P(background) as
            the probabilities and the variance summed over classes, each float32 (K, J, I) (what
            ``sdseg segment --prob-map/--uncertainty`` write), instead of C maps each; the labels
            are identical. No effect on a binary model.
        device_postprocess: resize back and threshold/argmax on the predictor's device
            (``predictor.predict_native``, see :mod:`SDSegLogic.device_postprocess`), so only
            uint8 labels come back to the host. ``None`` (default): when the predictor has
            ``predict_native`` and runs on CUDA. Bit-identical to the host path on the CPU.
        modality: the input's modality (``ImageData.modality``: ``"CT"``, ``"MR"``, ``"photo"``, ...;
            ``""`` when unknown); one the model was not trained on gives a warning.
        strict_modality: reject a modality mismatch instead of warning.

    Returns:
        :class:`SegmentationResult` with labels uint8 (K, J, I) on ``geometry``.

    Raises:
        InputError, GeometryError: invalid input (see ``SDSegLogic.io`` policy table), or a count, seed or
            budget that is not a whole number in range (named with its value, before any work).
        ModelCardError: the predictor's output does not match its card.
        CancelledError: ``should_cancel()`` returned True.
    """
    card = predictor.model_card
    size = int(predictor.config.sample_size)
    batch_size, num_inference_steps, num_samples, seed, max_bytes = check_segment_options(
        source, batch_size=batch_size, num_inference_steps=num_inference_steps, num_samples=num_samples, seed=seed,
        max_bytes=max_bytes)
    array = np.asarray(array)
    if seed is None:  # one seed for every batch, so that no slice's noise depends on its batch
        seed = secrets.randbelow(2**63)
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
                                 max_bytes=max_bytes, source=source, keep_probabilities=keep_probabilities,
                                 keep_variance=keep_variance, modality=modality, strict_modality=strict_modality,
                                 collapse_classes=collapse_classes)
        notes.extend(plan.warnings)
        volume = array.astype(np.float32, copy=False)
        low, high = value_range(volume)  # both finite exactly when every voxel is
        if nan_policy not in ("reject", "fill") or not (np.isfinite(low) and np.isfinite(high)):
            check_float32_range(array, volume, source)  # 1e300 in float64 is no NaN: refused under either policy
            volume, _ = check_finite(volume, card.intensity, nan_policy, source)  # rejects, or fills and warns
            low, high = value_range(volume)
        warn_if_raw_ct(volume, card, source, known_range=(low, high))
        warn_if_dim_picture(card, (low, high), source)
        if card.intensity.kind == "minmax" and plan.channel_mode != "luminance":
            reference: Optional[np.ndarray] = np.array([low, high], dtype=np.float32)
        else:
            reference = _intensity_reference(volume, card, plan.channel_mode)
        if reference is not None:
            map_intensity(reference, card.intensity, source)  # warns once if the image is constant
    notes.extend(str(w.message) for w in caught)
    for note in notes:
        warnings.warn(note, stacklevel=2)
    logger.info("segmenting %s:\n%s", source, plan.describe())

    rplan = plan.reorientation
    data = rplan.apply(volume)
    classes = plan.num_classes
    # Outputs live on the INPUT grid; the loop writes through reoriented views of them, so no
    # inverse reorientation (and no copy) is needed at the end.
    labels = np.zeros(geometry.array_shape, dtype=np.uint8)
    grid = (1 if collapse_classes else classes,) + geometry.array_shape  # only the maps that are kept
    probabilities = np.zeros(grid, dtype=np.float32) if keep_probabilities else None
    variance_out = np.zeros(grid, dtype=np.float32) if num_samples > 1 and keep_variance else None
    values = np.asarray(card.label_values(), dtype=np.uint8)
    image_resize = getattr(card, "image_resize", "bilinear")
    sink = _BatchSink(rplan.apply(labels), None if probabilities is None else rplan.apply(probabilities, leading=1),
                      None if variance_out is None else rplan.apply(variance_out, leading=1), plan.in_plane,
                      values, float(card.threshold), collapse_classes, back_align_corners(image_resize))

    def prepare(first: int, last: int) -> np.ndarray:
        return network_input(data[first:last], plan.channel_mode, card.intensity, size, source, reference,
                             image_resize)

    if device_postprocess is None:
        device_postprocess = _on_cuda(predictor) and hasattr(predictor, "predict_native")

    # a predictor that takes should_cancel checks it between its network calls (samples, DDIM steps)
    cancel = cancel_keyword(predictor.predict_native if device_postprocess else predictor.predict_probabilities,
                            should_cancel)

    def predict(x: np.ndarray, first: int, last: int):
        if device_postprocess:
            batch = predictor.predict_native(x, plan.in_plane, values, float(card.threshold),
                                             keep_probabilities=keep_probabilities, num_inference_steps=num_inference_steps,
                                             num_samples=num_samples, seed=seed, keep_variance=variance_out is not None,
                                             **cancel)
            _check_native(batch, last - first, classes, plan.in_plane, card)
            return batch, None
        p, v = predictor.predict_probabilities(x, num_inference_steps=num_inference_steps, num_samples=num_samples,
                                               seed=seed, **cancel)
        _check_output(p, v, last - first, classes, size, card)
        return p, v

    start, stop = plan.model_range
    batches = [(first, min(first + batch_size, stop)) for first in range(start, stop, batch_size)]
    if overlap is None:
        overlap = _on_cuda(predictor)
    run = _run_overlapped if overlap and len(batches) > 1 else _run_sequential
    run(batches, prepare, predict, sink, progress, should_cancel, source)

    got_variance = variance_out is not None and sink.got_variance
    if not got_variance:
        variance_out = None
    if classes == 1 or collapse_classes:
        probabilities = probabilities[0] if probabilities is not None else None
        variance_out = variance_out[0] if variance_out is not None else None
    if labels.shape != geometry.array_shape:  # guarantee G1, checked in code and not only in tests
        raise GeometryError(f"{source}: internal error, labels {labels.shape} != input grid {geometry.array_shape}.")
    counts = {c.name: sink.counts.get(int(c.label_value), 0) for c in card.classes}
    if not any(counts.values()):
        message = f"{source}: no foreground was found; the segmentation is empty."
        warnings.warn(message, stacklevel=2)
        notes.append(message)
    return SegmentationResult(
        labels=labels, probabilities=probabilities, variance=variance_out, geometry=geometry, voxel_counts=counts,
        model_id=card.model_id, model_version=card.version, seed=int(seed),
        num_inference_steps=int(num_inference_steps), num_samples=int(num_samples), warnings=tuple(notes), plan=plan,
    )
