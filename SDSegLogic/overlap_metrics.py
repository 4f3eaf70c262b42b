"""Overlap and surface-distance scores of one segment against a reference, in millimetres.

Definitions (the conventions of MONAI's ``compute_hausdorff_distance`` and
``compute_average_surface_distance``, so numbers compare with papers that use them):

* **surface** of a mask: its voxels that have a face neighbour (6-connectivity) outside the mask;
  voxels on the edge of the image count as surface (outside the image is background). An axis of
  length 1 in the image (a 2-D picture, a single-slice volume) has no neighbours: such an image is
  2-D and its surfaces are contours (4-connectivity in the plane), as MONAI computes on 2-D masks;
  otherwise every pixel of a one-slice image would be "surface".
* **directed distances** A -> B: for every surface voxel of A, the distance in mm (voxel centres,
  the grid's spacing) to the nearest surface voxel of B. Exact Euclidean distance transform
  (SimpleITK's Maurer filter), so anisotropic spacing is handled exactly.
* **HD** = max of both directed maxima; **HD95** = max of the two directed 95th percentiles;
  **ASSD** = mean of all directed distances of both directions together.
* **Dice** = 2|P∩R| / (|P| + |R|), **IoU** = |P∩R| / |P∪R|; both empty: 1 (and no distances:
  ``None``, reason ``"both empty"``); one empty: 0 (distances ``None``, reason ``"prediction empty"``
  or ``"reference empty"``).
* **volumes** in mL: voxel count x voxel volume (spacing product) / 1000.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .errors import InputError

__all__ = ["surface_voxels", "directed_surface_distances", "segment_scores"]


def surface_voxels(mask: np.ndarray, axes: Sequence[int] = (0, 1, 2)) -> np.ndarray:
    """(K, J, I) bool: voxels of ``mask`` with a face neighbour along ``axes`` outside it (or on the image edge).

    Args:
        mask: (K, J, I) bool.
        axes: the array axes that have neighbours: all three for a volume, the in-plane two for a 2-D
            image (no axes: every voxel is its own surface).
    """
    mask = np.asarray(mask, dtype=bool)
    if not axes:
        return mask.copy()
    padded = np.pad(mask, 1, constant_values=False)
    interior = padded[1:-1, 1:-1, 1:-1].copy()
    for axis in axes:
        for shift in (-1, 1):
            interior &= np.roll(padded, shift, axis=axis)[1:-1, 1:-1, 1:-1]
    return mask & ~interior


def directed_surface_distances(source_surface: np.ndarray, target_surface: np.ndarray,
                               spacing_ijk: Sequence[float]) -> np.ndarray:
    """Distances in mm from each ``source_surface`` voxel to the nearest ``target_surface`` voxel.

    Args:
        source_surface, target_surface: (K, J, I) bool, ``target_surface`` not empty.
        spacing_ijk: voxel size in mm along i, j, k (the geometry's order).

    Returns:
        float64 (n,) distances, one per source surface voxel (C order).
    """
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(target_surface, dtype=np.uint8))
    image.SetSpacing(tuple(float(s) for s in spacing_ijk))
    distance = sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
    field = np.maximum(sitk.GetArrayViewFromImage(distance), 0.0)  # <= 0 on the target voxels themselves
    return field[source_surface].astype(np.float64)


def _bounding_box(*masks: np.ndarray) -> Tuple[slice, ...]:
    """Slices of the smallest box holding every voxel of the ``masks`` (none of them empty).

    Distances are computed in this box rather than on the whole image: a structure of a few
    thousand voxels in a 512 x 512 x 600 CT costs its own size, not two full distance maps.
    """
    box = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(np.any([mask.any(axis=others) for mask in masks], axis=0))
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


def segment_scores(prediction: np.ndarray, reference: np.ndarray, spacing_ijk: Sequence[float]) -> Dict[str, Any]:
    """Dice, IoU, HD, HD95, ASSD (mm) and volumes (mL) of one segment.

    Args:
        prediction, reference: (K, J, I) bool masks on the same grid.
        spacing_ijk: voxel size in mm along i, j, k.

    Returns:
        ``dice``, ``iou``, ``hd_mm``, ``hd95_mm``, ``assd_mm`` (``None`` when undefined, with
        ``distance_note`` saying why), ``volume_prediction_ml``, ``volume_reference_ml``,
        ``voxels_prediction``, ``voxels_reference``.

    Raises:
        InputError: the masks differ in shape, or the spacing is not three positive numbers.
    """
    prediction = np.asarray(prediction, dtype=bool)
    reference = np.asarray(reference, dtype=bool)
    if prediction.shape != reference.shape or prediction.ndim != 3:
        raise InputError(f"masks of shape {prediction.shape} and {reference.shape} cannot be compared; "
                         "both must be (K, J, I) on the same grid.")
    spacing = tuple(float(s) for s in spacing_ijk)
    if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise InputError(f"spacing {spacing_ijk!r} must be three positive numbers (mm along i, j, k).")
    n_pred, n_ref = int(prediction.sum()), int(reference.sum())
    overlap = int(np.logical_and(prediction, reference).sum())
    union = n_pred + n_ref - overlap
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    scores: Dict[str, Any] = {
        "dice": 1.0 if n_pred + n_ref == 0 else 2.0 * overlap / (n_pred + n_ref),
        "iou": 1.0 if union == 0 else overlap / union,
        "hd_mm": None, "hd95_mm": None, "assd_mm": None, "distance_note": None,
        "volume_prediction_ml": n_pred * voxel_ml, "volume_reference_ml": n_ref * voxel_ml,
        "voxels_prediction": n_pred, "voxels_reference": n_ref,
    }
    note: Optional[str] = None
    if n_pred == 0 and n_ref == 0:
        note = "both empty"
    elif n_pred == 0:
        note = "prediction empty"
    elif n_ref == 0:
        note = "reference empty"
    if note is not None:
        scores["distance_note"] = note
        return scores
    axes = tuple(axis for axis in range(3) if prediction.shape[axis] > 1)  # of the image, not of the box below
    box = _bounding_box(prediction, reference)  # exact: every surface voxel lies in it (outside = background)
    surface_pred, surface_ref = surface_voxels(prediction[box], axes), surface_voxels(reference[box], axes)
    to_ref = directed_surface_distances(surface_pred, surface_ref, spacing)
    to_pred = directed_surface_distances(surface_ref, surface_pred, spacing)
    scores["hd_mm"] = float(max(to_ref.max(), to_pred.max()))
    scores["hd95_mm"] = float(max(np.percentile(to_ref, 95), np.percentile(to_pred, 95)))
    scores["assd_mm"] = float((to_ref.sum() + to_pred.sum()) / (to_ref.size + to_pred.size))
    return scores
