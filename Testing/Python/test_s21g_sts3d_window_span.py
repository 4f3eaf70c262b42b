"""STS-3D volumes that do not reach both ends of the window are named: the official inputs differ from ours there.

The official preprocessing (lin-tianyu/Stable-Diffusion-Seg ``data/sts3d/sts3d_preprocess.py``, ``process_pipe``)
clips each whole volume to [-100, 1100] and then min-max normalises that volume, for the training slices and the
test volumes alike. That equals our fixed window mapping only when the volume reaches both -100 and 1100. A
volume stored as unit-interval floats (values 0..1, as one STS-3D release ships its scans) became, officially, a
full-contrast [-1, 1] image, and with the window alone an almost constant one (every voxel near -0.83): training
learnt from blank slices without a word. Tiny real NIfTI volumes are read here.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data.sources import discover  # noqa: E402


def _write(root: Path, name: str, vol: np.ndarray) -> None:
    import SimpleITK as sitk

    lab = np.zeros(vol.shape, np.uint8)
    lab[:, 2:5, 2:5] = 1
    for sub, array in (("image", vol.astype(np.float32)), ("label", lab)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(sitk.GetImageFromArray(array), str(root / sub / f"{name}.nii.gz"))


def _load(root: Path, name: str, window=None):
    cfg = DataSection(kind="sts3d", root=str(root), size=8, window=window)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images, _ = discover(cfg).cases[name].load()
    return images, [str(w.message) for w in caught]


def test_a_unit_interval_volume_is_named_with_the_window_that_matches_the_official_inputs(tmp_path):
    rng = np.random.default_rng(0)
    vol = rng.random((2, 8, 8)).astype(np.float32)
    vol[0, 0, 0], vol[0, 0, 1] = 0.0, 1.0  # the volume spans exactly [0, 1]
    _write(tmp_path, "Teeth_0001_0000", vol)
    images, messages = _load(tmp_path, "Teeth_0001_0000")
    assert float(images.max() - images.min()) < 0.01  # the fixed window: a nearly blank slice
    named = [m for m in messages if "Teeth_0001_0000" in m and "min-max" in m]
    assert len(named) == 1, messages
    assert "data.window" in named[0] and "[0, 1]" in named[0]
    # the remedy the message names gives the official (min-max) inputs and no warning
    fixed, again = _load(tmp_path, "Teeth_0001_0000", window=[0.0, 1.0])
    assert not [m for m in again if "min-max" in m]
    assert float(fixed.min()) < -0.99 and float(fixed.max()) > 0.99


def test_a_volume_that_spans_the_window_is_not_named(tmp_path):
    vol = np.full((2, 8, 8), -1000.0, np.float32)
    vol[:, 2:5, 2:5] = 3000.0
    vol[:, 6, 6] = 500.0
    _write(tmp_path, "Teeth_0002_0000", vol)
    images, messages = _load(tmp_path, "Teeth_0002_0000")
    assert not [m for m in messages if "min-max" in m], messages
    assert float(images.min()) == -1.0 and float(images.max()) == 1.0
