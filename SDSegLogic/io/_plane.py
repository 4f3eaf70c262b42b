"""The third axis of a 2-D image's grid, as ITK (so 3D Slicer) completes it: one rule for every 2-D reader."""

from __future__ import annotations

import numpy as np

__all__ = ["plane_normal"]


def plane_normal(column: np.ndarray, row: np.ndarray) -> np.ndarray:
    """The third axis of a 2-D image's grid: the unit normal of its plane, pointing toward +z (superior) where it can.

    ITK reads a 2-D image into a 3-D one (as 3D Slicer loads a 2-D NRRD, NIfTI, MetaImage or picture) with the third
    axis +z whatever the in-plane directions, so a file with a flipped or swapped in-plane axis keeps +z, not the
    right-handed cross product (-z for a flipped row axis), nor a -z k column stored in a 2-D NIfTI's transform: the
    mask written for it then has the third direction Slicer shows for the input. A plane containing the z axis (a
    coronal or sagittal 2-D image in a 3-D space) keeps the right-handed normal, which ITK's +z (in the plane)
    cannot be. (A single DICOM slice is no such 2-D image: ITK reads it as 3-D, its normal the right-handed one.)

    Args:
        column, row: (3,) the image's i and j directions (any length), in one patient frame (LPS or RAS: both keep
            z as superior).

    Returns:
        (3,) float64 unit normal; (0, 0, 1) for parallel or zero vectors (refused later by their spacing or direction).
    """
    normal = np.cross(np.asarray(column, dtype=np.float64), np.asarray(row, dtype=np.float64))
    norm = np.linalg.norm(normal)
    if not np.isfinite(norm) or norm == 0:
        return np.array([0.0, 0.0, 1.0])
    normal = normal / norm
    return (-normal if normal[2] < 0 else normal) + 0.0  # + 0.0: no -0 in a header written from it
