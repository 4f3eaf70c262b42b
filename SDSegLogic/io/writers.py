"""Writers for segmentations (``.seg.nrrd`` or labelmaps) and float volumes.

Every writer copies the geometry from the result (which is the input's, never recomputed), writes
to a temporary file in the destination folder and moves it into place with ``os.replace``, and
refuses to overwrite the input image.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..errors import GeometryError, InputError
from ..geometry import ImageGeometry
from .atomic import atomic_output, check_output_path

__all__ = ["write_segmentation", "write_float_volume", "output_kind"]

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]


def output_kind(path: PathLike) -> str:
    """``"seg.nrrd"``, ``"nrrd"``, ``"nifti"`` or ``"metaimage"`` from the file name.

    Raises:
        InputError: for any other ending (including detached ``.nhdr``).
    """
    name = Path(path).name.lower()
    if name.endswith(".seg.nrrd"):
        return "seg.nrrd"
    if name.endswith(".nrrd"):
        return "nrrd"
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith(".mha"):
        return "metaimage"
    raise InputError(f"{path}: unsupported output type; use .seg.nrrd (3D Slicer segmentation), .nrrd, .nii, .nii.gz "
                     "or .mha (single-file formats only).")


def _check_array(array: np.ndarray, geometry: ImageGeometry, what: str) -> None:
    if not isinstance(geometry, ImageGeometry):
        raise GeometryError(f"{what}: geometry must be an ImageGeometry, got {type(geometry).__name__}.")
    if tuple(array.shape) != geometry.array_shape:
        raise GeometryError(f"{what}: array shape {array.shape} (K, J, I) does not match the geometry "
                            f"{geometry.array_shape}; write the array that belongs to this geometry.")


def _write_volume(tmp: Path, kind: str, array: np.ndarray, geometry: ImageGeometry, fields: dict,
                  destination: Path) -> None:
    """Write ``array`` (K, J, I) on ``geometry`` to ``tmp`` as ``kind``; ``destination`` (the output) names errors."""
    if kind == "nrrd":
        from ._nrrd_write import write_nrrd

        write_nrrd(tmp, array, geometry, fields)
        return
    import SimpleITK as sitk

    from ._sitk import image_from_array, itk_safe_path

    image = image_from_array(array, geometry)
    try:
        with itk_safe_path(tmp, writing=True) as safe:
            sitk.WriteImage(image, str(safe), useCompression=True)
    except RuntimeError as exc:  # ITK's MetaImage writer on a full disk: an OSError, as a failed NRRD write raises
        from ._sitk_read import itk_detail

        raise OSError(errno.EIO, f"ITK could not write the file ({itk_detail(str(exc))}); the disk may be full or "
                                 "a file size limit or quota reached", str(destination)) from None
    if kind == "nifti":  # ITK's NIfTI writer returns as if whole on a full disk
        from ._nifti_written import check_nifti_written

        check_nifti_written(tmp, array.nbytes, destination)


def _unknown_labels(labels: np.ndarray, allowed) -> list:
    """Sorted label values present in uint8 ``labels`` but not in ``allowed`` (0 is always allowed).

    One max() pass decides the usual case (every value 0..max declared, e.g. labels 1..K);
    otherwise the values present are listed with ``np.unique``.
    """
    allowed = set(int(v) for v in allowed) | {0}
    if labels.size == 0 or allowed >= set(range(int(labels.max()) + 1)):
        return []
    return sorted(set(np.unique(labels).tolist()) - allowed)


def write_segmentation(path: PathLike, result: Any, card: Any, *, input_path: Optional[PathLike] = None) -> Path:
    """Write a segmentation result, choosing the format from the extension.

    Args:
        path: ``*.seg.nrrd`` -> 3D Slicer segmentation, one segment per class of ``card``
            (name, colour, label value, terminology, model id/version and seed in the tags; every
            declared segment is listed even when empty); ``*.nrrd`` / ``*.nii`` / ``*.nii.gz`` /
            ``*.mha`` -> uint8 labelmap with the card's label values.
        result: a :class:`SDSegLogic.segment.SegmentationResult`: ``labels`` uint8 (K, J, I) on
            ``result.geometry`` (the input image's grid, LPS).
        card: the :class:`SDSegLogic.model_card.ModelCard` that produced it.
        input_path: the segmented image; writing over it is refused.

    Returns:
        The path written. The file appears atomically (temporary file + ``os.replace``).

    Raises:
        InputError: bad output path or extension, labels not in the card's label values.
        GeometryError: labels and geometry disagree.
    """
    path = check_output_path(path, input_path)
    kind = output_kind(path)
    labels = np.asarray(result.labels)
    _check_array(labels, result.geometry, str(path))
    if labels.dtype != np.uint8:
        if labels.min() < 0 or labels.max() > 255:
            raise InputError(f"{path}: label values {labels.min()}..{labels.max()} do not fit uint8.")
        labels = labels.astype(np.uint8)
    unknown = _unknown_labels(labels, card.label_values())
    if unknown:
        raise InputError(f"{path}: labels contain values {unknown} that model {card.model_id!r} does not declare "
                         f"({card.label_values()}); the result does not belong to this model card.")
    with atomic_output(path) as tmp:
        if kind == "seg.nrrd":
            from .seg_nrrd import write_seg_nrrd

            write_seg_nrrd(tmp, labels, result.geometry, card, result)
        else:
            fields = {"SDSeg_ModelId": card.model_id, "SDSeg_ModelVersion": card.version}
            _write_volume(tmp, kind, labels, result.geometry, fields, path)
    logger.info("wrote %s (%s, %d foreground voxels)", path, kind, int(np.count_nonzero(labels)))
    return path


def write_float_volume(path: PathLike, array: np.ndarray, geometry: ImageGeometry, *,
                       input_path: Optional[PathLike] = None) -> Path:
    """Write a float32 (K, J, I) volume (probability, variance) on ``geometry``.

    Args:
        path: ``*.nrrd`` / ``*.nii`` / ``*.nii.gz`` / ``*.mha`` (not ``.seg.nrrd``).
        array: (K, J, I), cast to float32; for a multi-class probability (C, K, J, I) write one
            class at a time.
        geometry: the grid, normally ``result.geometry``.
        input_path: the segmented image; writing over it is refused.

    Returns:
        The path written (atomically).
    """
    path = check_output_path(path, input_path)
    kind = output_kind(path)
    if kind == "seg.nrrd":
        raise InputError(f"{path}: a float volume cannot be a .seg.nrrd; use .nrrd or .nii.gz.")
    array = np.asarray(array, dtype=np.float32)
    _check_array(array, geometry, str(path))
    with atomic_output(path) as tmp:
        _write_volume(tmp, kind, array, geometry, {}, path)
    return path
