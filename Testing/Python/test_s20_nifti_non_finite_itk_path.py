"""NaN voxels of a NIfTI that SimpleITK reads (not the NumPy fast path) are reported, as on the fast path.

A float32 NIfTI stored with ``dim[0] = 4`` and one time step goes through ITK, which stores
non-finite values as 0: it read silently as 0, while the same volume stored 3-D warned.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.io import read_image

sitk = pytest.importorskip("SimpleITK")


def _four_d_one_frame(path: Path, volume: np.ndarray) -> Path:
    """``volume`` (K, J, I) float32 written by SimpleITK, then its header's dim set to 4-D with one frame."""
    sitk.WriteImage(sitk.GetImageFromArray(volume), str(path))
    raw = bytearray(path.read_bytes())
    dim = list(struct.unpack_from("<8h", raw, 40))
    dim[0], dim[4] = 4, 1
    struct.pack_into("<8h", raw, 40, *dim)
    path.write_bytes(bytes(raw))
    return path


def test_nan_in_a_nifti_read_by_itk_is_reported(tmp_path):
    volume = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    volume[1, 2, 3] = np.nan
    path = _four_d_one_frame(tmp_path / "pet.nii", volume)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_image(path)
    assert not np.isnan(np.asarray(image.array)).any()  # read as ITK reads it: 0
    texts = [str(w.message) for w in caught]
    assert any("1 voxel value(s) are NaN or infinite" in t and "(t, k, j, i) = (0, 1, 2, 3)" in t for t in texts), texts


def test_a_finite_nifti_read_by_itk_gets_no_such_warning(tmp_path):
    path = _four_d_one_frame(tmp_path / "ct.nii", np.ones((4, 5, 6), np.float32))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_image(path)
    assert not [w for w in caught if "NaN or infinite" in str(w.message)]
