"""A training volume saved as NIfTI with NaN or infinite voxels is refused like an NRRD one, not trained as 0.

ITK's NIfTI reader (under SimpleITK, 3D Slicer and the engine) stores non-finite voxels as 0, so
training's NaN check never saw them: a CT with a NaN patch (outside a resampled field of view)
trained silently as if the patch were 0 HU, while the same volume as NRRD was refused.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402
from sdseg_training.errors import DatasetError  # noqa: E402

sitk = pytest.importorskip("SimpleITK")


def _volumes(root: Path, ending: str, bad_value: float, dtype=np.float32) -> Path:
    """Three volumes and label maps written by SimpleITK; image c1 holds ``bad_value`` in 9 voxels."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir(parents=True)
    for i in range(3):
        volume = rng.normal(0, 100, (4, 24, 24)).astype(dtype)
        if i == 1:
            volume[2, 5:8, 6:9] = bad_value
        labels = np.zeros((4, 24, 24), np.uint8)
        labels[:, 5:15, 5:15] = 1
        sitk.WriteImage(sitk.GetImageFromArray(volume), str(root / "images" / f"c{i}{ending}"))
        sitk.WriteImage(sitk.GetImageFromArray(labels), str(root / "labels" / f"c{i}{ending}"))
    return root


def _cfg(root: Path) -> DataSection:
    return DataSection(kind="volumes", root=str(root), size=16, window=[-100.0, 100.0], val_fraction=0.0, test_fraction=0.0)


@pytest.mark.parametrize("ending", [".nii.gz", ".nii"])
@pytest.mark.parametrize("bad_value", [np.nan, -np.inf])
def test_nifti_volume_with_non_finite_voxels_is_refused_naming_the_file(tmp_path, ending, bad_value):
    root = _volumes(tmp_path / "data", ending, bad_value)
    pattern = rf"c1{ending.replace('.', '[.]')}: 9 value\(s\) are NaN or infinite .*\(2, 5, 6\).*Replace them"
    with pytest.raises(DatasetError, match=pattern):
        load_data(_cfg(root), tmp_path / "run")


def test_float64_nifti_with_nan_is_refused_too(tmp_path):
    root = _volumes(tmp_path / "data", ".nii.gz", np.nan, np.float64)
    with pytest.raises(DatasetError, match=r"c1\.nii\.gz: 9 value\(s\) are NaN or infinite"):
        load_data(_cfg(root), tmp_path / "run")


def test_finite_nifti_volumes_still_load(tmp_path):
    root = _volumes(tmp_path / "data", ".nii.gz", 50.0)
    data = load_data(_cfg(root), tmp_path / "run")
    assert data is not None
