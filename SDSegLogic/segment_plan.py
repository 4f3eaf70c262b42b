"""What we decide before touching voxels: reorientation, slice range, channels, resize, memory.

:func:`plan_segmentation` looks only at shapes, geometry and the model card, so its result can be
logged, shown to a user, or tested without a model ("separate what the data is from what we
decide from what was learned").
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Tuple, Union

from .errors import InputError
from .geometry import ImageGeometry, ReorientPlan, parse_orientation_code, closest_axes, plan_reorientation
from .io._dicom import PHOTO_MODALITIES
from .limits import default_memory_budget, format_bytes
from .preprocessing import channel_mode, modality_refusal

__all__ = ["SegmentationPlan", "plan_segmentation", "parse_slice_range", "SliceRange", "modality_note"]

SliceRange = Union[None, slice, str, Tuple[Optional[int], Optional[int]]]
_PLANES = {0: "sagittal", 1: "coronal", 2: "axial"}


@dataclass(frozen=True)
class SegmentationPlan:
    """The decisions for one call of :func:`SDSegLogic.segment.segment_array`.

    Attributes:
        reorientation: permutation/flip from the input grid to the card's orientation.
        num_slices: slices along the model's slicing axis (target k).
        input_range: (start, stop) of processed slices, in INPUT voxel indices along
            ``reorientation.slice_source_axis`` (half-open).
        model_range: the same slices as (start, stop) on the reoriented slicing axis.
        in_plane: native slice size (H, W) = (rows, columns) after reorientation.
        model_size: square size S the slices are resized to.
        channel_mode: ``"repeat"``, ``"rgb"`` or ``"luminance"`` (see :func:`channel_mode`).
        num_classes: C, channels of the probability output.
        batch_size / num_batches: prediction batches.
        estimated_bytes / budget_bytes: memory estimate and the limit it was checked against.
        warnings: messages about decisions that may degrade the result.
    """

    reorientation: ReorientPlan
    num_slices: int
    input_range: Tuple[int, int]
    model_range: Tuple[int, int]
    in_plane: Tuple[int, int]
    model_size: int
    channel_mode: str
    num_classes: int
    batch_size: int
    num_batches: int
    estimated_bytes: int
    budget_bytes: int
    warnings: Tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """A few lines for the log."""
        h, w = self.in_plane
        lines = [
            f"reorient: {self.reorientation.describe()}",
            f"slices: {self.model_range[1] - self.model_range[0]} of {self.num_slices} along input axis "
            f"{'ijk'[self.reorientation.slice_source_axis]} (input indices {self.input_range[0]}:{self.input_range[1]})",
            f"resize: {h}x{w} -> {self.model_size}x{self.model_size} (bilinear) and back",
            f"channels: {self.channel_mode}; classes: {self.num_classes}; batches: {self.num_batches} x {self.batch_size}",
            f"memory: about {format_bytes(self.estimated_bytes)} of {format_bytes(self.budget_bytes)}",
        ]
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])


def parse_slice_range(slices: SliceRange, count: int, source: str = "image") -> Tuple[int, int]:
    """Normalise ``None``, ``slice(a, b)``, ``(a, b)`` or ``"a:b"`` to a half-open (start, stop) in [0, count].

    Negative numbers count from the end, as in Python. Raises :class:`InputError` for a step,
    malformed text, a bound that is not a whole number (a float, a string, a bool) or an empty range.
    """
    if slices is None:
        return 0, count
    as_given = slices
    if isinstance(slices, str):
        parts = slices.split(":")
        try:
            if len(parts) != 2:
                raise ValueError
            slices = slice(*(int(p) if p.strip() else None for p in parts))
        except ValueError:
            raise InputError(f"{source}: slice range {slices!r} must look like 'A:B' (e.g. '10:40').") from None
    elif not isinstance(slices, slice):
        try:
            start, stop = slices
        except (TypeError, ValueError):
            raise InputError(f"{source}: slice range {slices!r} must be (start, stop), slice(start, stop) or 'A:B'.") from None
        slices = slice(start, stop)
    if slices.step not in (None, 1):
        raise InputError(f"{source}: slice range {slices} must not have a step; every slice in the range is segmented.")
    for bound in (slices.start, slices.stop, slices.step):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, numbers.Integral)):
            raise InputError(f"{source}: slice range {as_given!r} must give whole slice numbers (start, stop), got "
                             f"{bound!r} ({type(bound).__name__}); e.g. (10, 40), '10:40' or slice(10, 40).")
    start, stop, _ = slices.indices(count)
    if stop <= start:  # name the range as given: a start past the end is clipped to count:count here
        given = ":".join("" if v is None else str(v) for v in (slices.start, slices.stop))
        raise InputError(f"{source}: slice range {given} holds no slice; the slicing axis has {count} slice(s), indices "
                         f"0..{count - 1}. Give a range within them.")
    return start, stop


# Imaging modalities by family: DICOM Modality codes (0008,0060; the photo codes count as photos) and the names
# model cards use.
_MODALITY_FAMILIES = {
    "CT": "CT", "CBCT": "CT", "MR": "MR", "MRI": "MR", "PT": "PET", "PET": "PET", "NM": "NM", "SPECT": "NM",
    "US": "US", "PHOTO": "photo", **{code: "photo" for code in PHOTO_MODALITIES},
    # the picture kinds model cards name (the card's docs give "fundus" and "endoscopy" as examples)
    **{name: "photo" for name in ("FUNDUS", "ENDOSCOPY", "COLONOSCOPY", "DERMOSCOPY", "DERMATOSCOPY", "MICROSCOPY")},
}
# Families whose intensities a 2-D picture (PNG, JPEG, ...) cannot carry: HU, MR signal, uptake.
_TOMOGRAPHIC = ("CT", "MR", "PET", "NM")


def _modality_family(name: str) -> Optional[str]:
    return _MODALITY_FAMILIES.get(str(name or "").strip().upper())


def modality_note(card_modality: str, modality: str, strict: bool = False, source: str = "image", *,
                  is_rgb: bool = False, input_channels: int = 0) -> Optional[str]:
    """A warning when the input's modality is not the one the model was trained on.

    Only known modalities are compared (DICOM codes such as ``CT``, ``MR``, ``PT``, ``US``, the
    reader's ``photo`` for 2-D pictures and the DICOM photo codes ``OP``, ``XC``, ``ES``, ``SM``,
    ``GM``, ``DMS``, which count as photos, as do the card names ``fundus``, ``endoscopy``,
    ``colonoscopy``, ``dermoscopy`` and ``microscopy``); an empty or unknown one on either side gives no note. A
    photo is a mismatch only for a tomographic model (CT, MR, PET, SPECT), whose intensities a
    picture cannot hold.

    Args:
        card_modality: the model card's ``modality``.
        modality: the input's (:attr:`SDSegLogic.io.ImageData.modality`).
        strict: raise instead of returning the note.
        source: name of the input used in messages.
        is_rgb: the input has a colour axis (a photo is then named a colour photo).
        input_channels: the model's input channels; a refusal keeps a channel mismatch and its
            remedy after the modality (:func:`~SDSegLogic.preprocessing.modality_refusal`).

    Returns:
        The warning text, or ``None`` when the modalities agree or cannot be compared.

    Raises:
        InputError: a mismatch when ``strict`` is True.
    """
    trained, given = _modality_family(card_modality), _modality_family(modality)
    if trained is None or given is None or trained == given:
        return None
    if given == "photo" and trained not in _TOMOGRAPHIC:
        return None
    code = str(modality).strip().upper()
    if code in PHOTO_MODALITIES:
        what = f"a DICOM {code} image ({PHOTO_MODALITIES[code]}, {'a colour photo, 3 channels' if is_rgb else 'a photo'})"
    elif given == "photo":
        what = "a 2-D picture (a colour photo, 3 channels)" if is_rgb else "a 2-D picture (photo, PNG/JPEG/TIFF/BMP)"
    else:
        what = f"a {modality} image"
    mismatch = f"{source}: the model was trained on {card_modality} images but the input is {what}"
    if strict:
        raise modality_refusal(mismatch, card_modality, is_rgb, input_channels)
    return (f"{mismatch}; the results may be meaningless. Give a {card_modality} image or use a model trained on "
            "such inputs.")


#: the orientation code of Slicer's view of one slice, by the LPS axis across it (0 sagittal, 1 coronal, 2 axial):
#: columns toward i, rows toward j, as :mod:`SDSegLogic.io.preview` shows that slice
_SLICER_VIEWS = {0: "PIL", 1: "LIP", 2: "LPS"}


def _single_slice_code(geometry: ImageGeometry, axis: int) -> str:
    """The code that cuts a one-slice volume along its thin ``axis``, in-plane as Slicer's view of that plane shows it.

    A model trained on slices of another plane has no convention for this one, so the slice is given to it the
    way a person sees it in 3D Slicer's slice view, whatever the file's row and column directions: coronal with
    patient left on the right and the head at the top (rows toward the feet, ``LIP``), sagittal with anterior on
    the left and the head at the top (``PIL``), axial as radiological display (``LPS``). The mask is mapped back
    through the same permutation and flips, so it lands on the input's voxels whichever view is chosen.
    """
    world, _ = closest_axes(geometry.direction_matrix)
    return _SLICER_VIEWS[world[axis]]


def _memory_refusal(source: str, geometry: ImageGeometry, classes: int, estimated: int, budget: int,
                    probabilities: int, variance: int) -> InputError:
    """The refusal of a volume over the memory budget, naming only remedies that lower the need.

    Args:
        probabilities, variance: bytes the kept soft maps and variance take (0 when not kept).

    The outputs cover the whole input grid, so a slice range does not make them smaller: the
    message says so instead of offering it.
    """
    remedies = []
    if probabilities:
        remedies.append(f"do not keep the probability maps (saves about {format_bytes(probabilities)}: "
                        "keep_probabilities=False in Python, no --prob-map)")
    if variance:
        remedies.append(f"do not keep the uncertainty maps (saves about {format_bytes(variance)}: keep_variance=False "
                        "in Python, no --uncertainty)")
    remedies += ["crop the volume", "raise the budget (max_bytes, SDSEG_MAX_BYTES)"]
    size = "x".join(str(n) for n in geometry.shape)
    return InputError(
        f"{source}: segmenting {size} voxels with {classes} class(es) needs about {format_bytes(estimated)}, more "
        f"than the budget of {format_bytes(budget)}. A slice range (--slices A:B) does not lower this: the outputs "
        f"cover the whole volume. To fit it: {'; '.join(remedies[:-1])}; or {remedies[-1]}."
    )


def plan_segmentation(array_shape: Sequence[int], geometry: ImageGeometry, card: Any, *, model_size: int,
                      is_rgb: bool = False, slices: SliceRange = None, batch_size: int = 8, num_samples: int = 1,
                      strict_channels: bool = False, max_bytes: Optional[int] = None,
                      source: str = "image", keep_probabilities: bool = True, modality: str = "",
                      strict_modality: bool = False, keep_variance: bool = True,
                      collapse_classes: bool = False) -> SegmentationPlan:
    """Decide how a volume will be segmented, without reading its voxels.

    Args:
        array_shape: (K, J, I) or (K, J, I, 3) of the input array.
        geometry: its grid (LPS).
        card: the model card (orientation, channels, classes).
        model_size: the network's square input size S (``predictor.config.sample_size``).
        is_rgb: whether the array has a colour axis.
        slices: range of slices to segment, in INPUT voxel indices along the input axis that
            becomes the model's slicing axis (for an axial model and an axial scan: the input's k
            index as shown by Slicer's slice index). Others get label 0 and probability 0.
        batch_size, num_samples, keep_probabilities, keep_variance, collapse_classes: as in
            :func:`SDSegLogic.segment.segment_array` (the memory estimate counts the stored soft
            maps and variance only when they are kept, and one map each, not C, when collapsed).
        strict_channels: reject instead of adapting a channel mismatch.
        modality: the input's modality (:attr:`SDSegLogic.io.ImageData.modality`: a DICOM code such
            as ``"CT"`` or ``"MR"``, ``"photo"`` for a 2-D picture, ``""`` when unknown); one that
            differs from ``card.modality`` gives a warning (see :func:`modality_note`).
        strict_modality: reject instead of warning about a modality mismatch.
        max_bytes: memory budget; default :func:`SDSegLogic.limits.default_memory_budget`.

    Raises:
        InputError: bad arguments, empty range, a volume that would exceed the budget, or a channel
            or modality mismatch under ``strict_channels`` / ``strict_modality``.
    """
    if batch_size < 1 or num_samples < 1 or model_size < 1:
        raise InputError(f"{source}: batch_size={batch_size}, num_samples={num_samples} and model size {model_size} "
                         "must all be >= 1.")
    if tuple(array_shape[:3]) != geometry.array_shape:
        raise InputError(f"{source}: array shape {tuple(array_shape)} does not match the geometry "
                         f"{geometry.array_shape} (K, J, I); pass the geometry of this array.")
    notes = []
    code = card.orientation.upper()
    reorientation = plan_reorientation(geometry, code)
    src = reorientation.slice_source_axis
    thin = [a for a in range(3) if geometry.shape[a] == 1]
    if thin and geometry.shape[src] > 1:
        single = _single_slice_code(geometry, thin[-1])
        reorientation = plan_reorientation(geometry, single, slicing_axis=thin[-1])
        src = reorientation.slice_source_axis
        plane = _PLANES[closest_axes(geometry.direction_matrix)[0][src]]
        notes.append(f"{source}: a single {plane} slice; it is segmented as Slicer's {plane} view shows it, although "
                     f"the model was trained on {_PLANES[parse_orientation_code(code)[0][2]]} slices.")
    elif src != 2 and geometry.shape[2] > 1:
        world = closest_axes(geometry.direction_matrix)[0]
        notes.append(f"{source}: the volume was stored as {_PLANES[world[2]]} slices but the model cuts "
                     f"{_PLANES[world[src]]} slices across them (no resampling); in-plane resolution then includes the "
                     f"through-plane spacing {geometry.spacing[2]:g} mm.")
    if reorientation.obliquity > 1.0:
        notes.append(f"{source}: the grid is oblique by {reorientation.obliquity:.1f} degrees; slices are cut along the "
                     "closest patient axes without resampling" + (", which may degrade quality; resample to an "
                     "axis-aligned grid first." if reorientation.obliquity > 20 else "."))
    target = reorientation.target
    sx, sy = target.spacing[0], target.spacing[1]
    if max(sx, sy) / min(sx, sy) > 2.0:
        notes.append(f"{source}: in-plane spacing {sx:g} x {sy:g} mm is anisotropic; slices are resized to a square "
                     "grid, so anatomy looks stretched to the model.")
    # the modality first: a refusal of a colour photo for a CT model names the modality, then the channels
    mismatch = modality_note(getattr(card, "modality", ""), modality, strict_modality, source, is_rgb=is_rgb,
                             input_channels=card.input_channels)
    mode, channel_note = channel_mode(is_rgb, card.input_channels, strict_channels, source)
    notes.extend(note for note in (channel_note, mismatch) if note)
    count = target.shape[2]
    in_start, in_stop = parse_slice_range(slices, geometry.shape[src], source)
    model_range = (count - in_stop, count - in_start) if reorientation.flips[2] else (in_start, in_stop)
    classes = card.num_network_classes
    voxels = geometry.num_voxels
    channels = 3 if is_rgb else 1
    variance = num_samples > 1 and keep_variance
    kept = 1 if collapse_classes else classes  # float32 maps kept on the input grid per kind (probabilities, variance)
    per_voxel = 1 + 4 * kept * ((2 if keep_probabilities else 0) + (2 if variance else 0)) + 1 + (4 * channels)
    batch = min(batch_size, model_range[1] - model_range[0])
    per_batch = batch * 4 * (3 * model_size * model_size * 4 + 3 * target.shape[0] * target.shape[1] * 3
                             + classes * model_size * model_size * 2)
    estimated = voxels * per_voxel + per_batch
    budget = int(max_bytes) if max_bytes is not None else default_memory_budget()
    if estimated > budget:
        soft_maps = voxels * 8 * kept  # float32 maps on the input grid and their per-batch copies
        raise _memory_refusal(source, geometry, classes, estimated, budget, soft_maps if keep_probabilities else 0,
                              soft_maps if variance else 0)
    num_batches = -(-(model_range[1] - model_range[0]) // batch_size)
    return SegmentationPlan(
        reorientation=reorientation, num_slices=count, input_range=(in_start, in_stop), model_range=model_range,
        in_plane=(target.shape[1], target.shape[0]), model_size=int(model_size), channel_mode=mode,
        num_classes=classes, batch_size=int(batch_size), num_batches=num_batches, estimated_bytes=int(estimated),
        budget_bytes=budget, warnings=tuple(notes),
    )
