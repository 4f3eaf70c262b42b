"""How our BTCV training slices relate to the official ones (evidence for training/README.md, "Orientation").

The official BTCV slices (lin-tianyu/Stable-Diffusion-Seg ``data/synapse/nii2format.py``; the test volumes in
``ldm/data/synapse.py``) are ``nib.load(path).get_fdata()[:, :, k]``: the file's voxel array in storage order,
rows along voxel axis i, columns along j, with no reorientation. Our slices are the volume reoriented to LPS
(rows j, columns i). For a file stored LPS (ITK direction identity, as SimpleITK reads the BTCV volumes), the
official slice is therefore the TRANSPOSE of ours, and the engine's card orientation ``"PLS"`` gives exactly
the official slice. nibabel's array is emulated by reading the uncompressed NIfTI's voxel block in Fortran
order, which is what nibabel's ``get_fdata`` returns for a file without scaling.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.data.preprocess import read_oriented  # noqa: E402


def _nibabel_array(path: Path, shape_ijk) -> np.ndarray:
    """The (I, J, K) voxel array nibabel's get_fdata() gives for an unscaled float32 NIfTI-1 file."""
    raw = path.read_bytes()
    vox_offset = int(struct.unpack("<f", raw[108:112])[0])
    return np.frombuffer(raw[vox_offset:], dtype="<f4", count=int(np.prod(shape_ijk))).reshape(shape_ijk, order="F")


def _lps_volume(tmp_path: Path) -> Path:
    import SimpleITK as sitk

    k, j, i = 3, 5, 7  # non-square slices: a transpose cannot pass for a flip
    array = np.arange(k * j * i, dtype=np.float32).reshape(k, j, i)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.8, 3.0))  # direction identity: i -> L, j -> P, k -> S (LPS), as BTCV reads in ITK
    path = tmp_path / "img0001.nii"
    sitk.WriteImage(image, str(path))
    return path


def test_the_official_btcv_slice_is_the_transpose_of_our_lps_slice(tmp_path):
    path = _lps_volume(tmp_path)
    ours, grid = read_oriented(str(path))  # (K, J, I), our training slices
    official = _nibabel_array(path, (ours.shape[2], ours.shape[1], ours.shape[0]))
    for k in range(ours.shape[0]):
        assert np.array_equal(official[:, :, k], ours[k].T)
        assert not np.array_equal(official[:, :, k].shape, ours[k].shape)


def test_the_card_orientation_pls_gives_the_engine_the_official_slice(tmp_path):
    from SDSegLogic.geometry import reorient

    path = _lps_volume(tmp_path)
    ours, grid = read_oriented(str(path))
    official = _nibabel_array(path, (ours.shape[2], ours.shape[1], ours.shape[0]))
    engine, _, _ = reorient(ours, grid, "PLS")  # what the engine feeds a model whose card says PLS
    for k in range(ours.shape[0]):
        assert np.array_equal(engine[k], official[:, :, k])
