"""Writes a generic volume folder (``data.kind=volumes``: ``images/`` and ``labels/`` of NIfTI cases) for training tests."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Tuple

import numpy as np

__all__ = ["write_volume_folder"]


def write_volume_folder(root: Path, cases: Iterable[Tuple[str, np.ndarray, np.ndarray]],
                        spacing: Tuple[float, float, float] = (0.8, 0.8, 2.5)) -> Path:
    """Write ``root/images/<name>.nii.gz`` and ``root/labels/<name>.nii.gz`` for each case; returns ``root``.

    Args:
        cases: ``(name, ct, labels)``: (K, J, I) float32 HU and (K, J, I) integer label arrays of one case.
        spacing: (x, y, z) voxel spacing in mm (SimpleITK order).
    """
    import SimpleITK as sitk

    for sub in ("images", "labels"):
        (root / sub).mkdir(parents=True)
    for name, ct, labels in cases:
        for array, sub in ((ct, "images"), (labels, "labels")):
            img = sitk.GetImageFromArray(array)
            img.SetSpacing(spacing)
            sitk.WriteImage(img, str(root / sub / f"{name}.nii.gz"))
    return root
