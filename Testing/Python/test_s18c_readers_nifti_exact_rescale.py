"""A NIfTI labelmap of integers with a whole-number scl_slope/scl_inter is read exactly, not as ITK's float32.

The files are written by SimpleITK and their scl_slope/scl_inter patched (bytes 112 and 116 of the NIfTI-1
header). 3D Slicer and SimpleITK read them as float32, which rounds 16777217 to 16777216; the labelmap reader
(:func:`SDSegLogic.io.readers.read_voxels`) must keep every label apart, and images stay float32 as ITK reads them.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.io.label_files import read_label_volume
from SDSegLogic.io.readers import read_image, read_voxels

sitk = pytest.importorskip("SimpleITK")

BIG = 2 ** 24  # float32 holds every integer up to here, and not 2**24 + 1


def write_nifti(path: Path, stored: np.ndarray, slope: float, intercept: float) -> Path:
    """``stored`` (K, J, I) in its own integer type, with the given scl_slope and scl_inter."""
    sitk.WriteImage(sitk.GetImageFromArray(stored), str(path))
    raw = bytearray(path.read_bytes())
    raw[112:120] = struct.pack("<ff", slope, intercept)
    path.write_bytes(bytes(raw))
    return path


def _stored(big: int, dtype) -> np.ndarray:
    out = np.zeros((5, 6, 7), dtype)
    out[1:3, 1:3, 1:4] = big + 1
    out[3:5, 2:5, 2:6] = big
    out[0, 0, 0] = 7
    return out


@pytest.mark.parametrize("slope, intercept", [(1.0, 1.0), (2.0, 0.0), (3.0, 2.0)])
def test_integer_rescale_keeps_labels_exact(tmp_path, slope, intercept):
    """Before: float32 voxels (16777219 read as 16777220), and the labelmap refused labels from 2**24 on."""
    stored = _stored(BIG, np.uint32)
    path = write_nifti(tmp_path / "labels.nii", stored, slope, intercept)
    expected = stored.astype(np.int64) * int(slope) + int(intercept)
    itk = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    assert itk.dtype == np.float32  # ITK (and 3D Slicer) apply the rescale in float32
    voxels, geometry = read_voxels(path)
    assert voxels.dtype.kind in "iu"
    np.testing.assert_array_equal(voxels, expected)
    assert geometry.array_shape == stored.shape
    volume = read_label_volume(path)
    assert [s.value for s in volume.segments] == sorted(set(expected.ravel().tolist()) - {0})
    np.testing.assert_array_equal(read_image(path).array, itk)  # images: exactly what ITK reads


def test_integer_rescale_type_holds_the_range(tmp_path):
    """uint8 stored, slope -1: -255..0 needs int16, every value exact; a fractional slope stays float32."""
    stored = _stored(100, np.uint8)
    voxels, _ = read_voxels(write_nifti(tmp_path / "negative.nii", stored, -1.0, 0.0))
    assert voxels.dtype == np.int16
    np.testing.assert_array_equal(voxels, -stored.astype(np.int16))
    voxels, _ = read_voxels(write_nifti(tmp_path / "fraction.nii", stored, 0.5, 0.0))
    assert voxels.dtype == np.float32


def test_score_accepts_a_nifti_reference_with_large_labels(tmp_path):
    """sdseg score: a reference of labels from 2**24 on, stored with intercept 1, scores against itself."""
    stored = _stored(BIG, np.uint32)
    reference = write_nifti(tmp_path / "reference.nii", stored, 1.0, 1.0)
    prediction = tmp_path / "prediction.nii"
    sitk.WriteImage(sitk.GetImageFromArray((stored.astype(np.int64) + 1).astype(np.uint32)), str(prediction))
    assert main(["score", str(prediction), str(reference)]) == EXIT_OK
