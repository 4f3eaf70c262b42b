"""Writes a generic volume folder (``data.kind=volumes``: ``images/`` and ``labels/`` of NIfTI cases) for training tests."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Tuple

import numpy as np

__all__ = ["two_block_volumes", "write_volume_folder"]


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


def two_block_volumes(root: Path, dot: bool = False) -> Path:
    """Five 6-slice CT-like volumes (HU) in ``root``: a bright upper block labelled 1, a dimmer lower block labelled 2.

    Args:
        dot: also a small label-3 dot (60 HU) in every case, e.g. a class a config may or may not declare.

    Returns:
        ``root``, a ``data.kind=volumes`` folder of cases ``case0`` .. ``case4`` (32 x 32 slices, uint8 labels).
    """

    def case(c: int):
        labels = np.zeros((6, 32, 32), np.uint8)
        labels[:, 4 + c:12 + c, 8:24] = 1
        labels[:, 20:28, 6 + c:18 + c] = 2
        if dot:
            labels[:, 29:31, 28:30] = 3
        ct = np.choose(labels, [-40.0, 80.0, 30.0, 60.0]).astype(np.float32)
        ct += np.random.default_rng(c).normal(0, 5, ct.shape).astype(np.float32)
        return f"case{c}", ct, labels

    return write_volume_folder(root, (case(c) for c in range(5)))
