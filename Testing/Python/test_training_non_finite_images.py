"""Images holding NaN or infinite values are refused when a case loads (naming the file), not trained on."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402
from sdseg_training.errors import DatasetError  # noqa: E402


def _volumes(root: Path, bad_value: float) -> Path:
    """Three NRRD volumes (NRRD keeps NaN, unlike ITK's NIfTI writer) and label maps; case c1 holds ``bad_value``."""
    import SimpleITK as sitk

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir(parents=True)
    for i in range(3):
        volume = rng.normal(0, 100, (4, 24, 24)).astype(np.float32)
        if i == 1:
            volume[0, :3, :3] = bad_value  # e.g. outside a resampled CT's field of view
        labels = np.zeros((4, 24, 24), np.uint8)
        labels[:, 5:15, 5:15] = 1
        sitk.WriteImage(sitk.GetImageFromArray(volume), str(root / "images" / f"c{i}.nrrd"))
        sitk.WriteImage(sitk.GetImageFromArray(labels), str(root / "labels" / f"c{i}.nrrd"))
    return root


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_volume_with_non_finite_voxels_is_refused_naming_the_file(tmp_path, bad_value):
    root = _volumes(tmp_path / "data", bad_value)
    cfg = DataSection(kind="volumes", root=str(root), size=16, window=[-100.0, 100.0], val_fraction=0.0, test_fraction=0.0)
    with pytest.raises(DatasetError, match=r"c1\.nrrd: 9 value\(s\) are NaN or infinite .*Replace them"):
        load_data(cfg, tmp_path / "run")


def test_float_picture_with_nan_is_refused_naming_the_file(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    for i in range(3):
        picture = rng.uniform(0, 255, (20, 20)).astype(np.float32)
        if i == 2:
            picture[4, 5] = np.nan
        Image.fromarray(picture, "F").save(tmp_path / "images" / f"c{i}.tif")
        mask = np.zeros((20, 20), np.uint8)
        mask[3:12, 3:12] = 255
        Image.fromarray(mask).save(tmp_path / "masks" / f"c{i}.png")
    cfg = DataSection(kind="folder2d", root=str(tmp_path), size=16, val_fraction=0.0, test_fraction=0.0)
    with pytest.raises(DatasetError, match=r"c2\.tif: 3 value\(s\) are NaN or infinite \(the first at index \(4, 5, 0\)\)"):
        load_data(cfg, tmp_path / "run")
