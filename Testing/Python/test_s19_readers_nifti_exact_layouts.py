"""Labelmaps stored as NIfTI integers with a whole-number scl_slope/scl_inter stay exact in every layout.

ITK (and 3D Slicer) apply such a rescale in float32, which merges labels from 2**24 on (16777217 becomes
16777216). :func:`SDSegLogic.io.readers.read_voxels` read them exactly only for a 2-D/3-D file with positive
pixdim; a 4-D file of one or more frames and a qform with a negative pixdim went through ITK's float32.
The files are written by SimpleITK and patched (scl_slope/scl_inter at byte 112, pixdim at byte 76).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.io.frame_cache import keep_decoded_frames
from SDSegLogic.io.readers import read_image, read_voxels

sitk = pytest.importorskip("SimpleITK")

BIG = 2 ** 24  # float32 holds every integer up to here, and not 2**24 + 1


def _labels(shift: int = 0) -> np.ndarray:
    """uint32 (5, 6, 7) holding 7, 2**24 and 2**24 + 1 (+ shift), asymmetric so a flip shows."""
    out = np.zeros((5, 6, 7), np.uint32)
    out[1:3, 1:3, 1:4] = BIG + 1 + shift
    out[3:5, 2:5, 2:6] = BIG + shift
    out[0, 0, 0] = 7
    return out


def _patch(path: Path, slope: float = 1.0, intercept: float = 1.0, negate_x: bool = False) -> Path:
    raw = bytearray(path.read_bytes())
    struct.pack_into("<ff", raw, 112, slope, intercept)
    if negate_x:  # qform only, pixdim[1] < 0: ITK flips the x axis (spacing -1 -> direction column negated)
        struct.pack_into("<h", raw, 254, 0)
        pixdim = list(struct.unpack_from("<8f", raw, 76))
        pixdim[1] = -pixdim[1]
        struct.pack_into("<8f", raw, 76, *pixdim)
    path.write_bytes(bytes(raw))
    return path


def _patch_gz(path: Path) -> None:
    """:func:`_patch` (slope 1, intercept 1) for a ``.nii.gz``."""
    plain = path.with_suffix("")
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    _patch(plain)
    path.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()


def _geometry_of(image) -> np.ndarray:
    """SimpleITK's IJK->LPS matrix of the first three axes (what 3D Slicer places the voxels by)."""
    dim = image.GetDimension()
    direction = np.asarray(image.GetDirection()).reshape(dim, dim)[:3, :3]
    m = np.eye(4)
    m[:3, :3] = direction * np.asarray(image.GetSpacing()[:3])
    m[:3, 3] = image.GetOrigin()[:3]
    return m


def _write_oblique(path: Path, image) -> None:
    image.SetSpacing((0.7, 0.8, 1.5) + image.GetSpacing()[3:])
    image.SetOrigin((10.0, -20.0, 30.0) + image.GetOrigin()[3:])
    sitk.WriteImage(image, str(path))


def test_four_d_file_of_one_frame_keeps_labels_exact(tmp_path):
    """Before: float32 with 16777217 and 16777218 merged into 16777216 (dim[0] = 4, dim[4] = 1)."""
    stored = _labels()
    path = tmp_path / "one_frame.nii"
    _write_oblique(path, sitk.JoinSeries([sitk.GetImageFromArray(stored)]))
    _patch(path)
    voxels, geometry = read_voxels(path)
    assert voxels.dtype.kind in "iu"
    np.testing.assert_array_equal(voxels, stored.astype(np.int64) + 1)
    np.testing.assert_allclose(geometry.ijk_to_lps(), _geometry_of(sitk.ReadImage(str(path))), atol=1e-4)


def test_four_d_frames_keep_labels_exact_and_images_stay_itk(tmp_path):
    """Each frame of a 4-D labelmap is exact; read_image still gives ITK's float32, even from the frame cache."""
    frames = [_labels(), _labels(shift=2)]
    path = tmp_path / "frames.nii.gz"
    _write_oblique(path, sitk.JoinSeries([sitk.GetImageFromArray(f) for f in frames]))
    raw = sitk.ReadImage(str(path))
    _patch_gz(path)
    itk = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    assert itk.dtype == np.float32
    with keep_decoded_frames():
        for frame, stored in enumerate(frames):
            voxels, geometry = read_voxels(path, frame=frame)
            np.testing.assert_array_equal(voxels, stored.astype(np.int64) + 1)
            np.testing.assert_allclose(geometry.ijk_to_lps(), _geometry_of(raw), atol=1e-4)
            np.testing.assert_array_equal(read_image(path, frame=frame).array, itk[frame])


def test_negative_pixdim_keeps_labels_exact_in_itks_place(tmp_path):
    """Before: float32 (labels merged). The voxels stay in stored order; the geometry is ITK's flipped x axis."""
    stored = _labels()
    path = tmp_path / "negative.nii"
    _write_oblique(path, sitk.GetImageFromArray(stored))
    _patch(path, 2.0, 0.0, negate_x=True)
    itk_image = sitk.ReadImage(str(path))
    assert itk_image.GetDirection()[0] < 0  # ITK read pixdim[1] < 0 as a flipped x axis
    voxels, geometry = read_voxels(path)
    assert voxels.dtype.kind in "iu"
    np.testing.assert_array_equal(voxels, stored.astype(np.int64) * 2)
    np.testing.assert_allclose(geometry.ijk_to_lps(), _geometry_of(itk_image), atol=1e-4)
    image = read_image(path)
    np.testing.assert_array_equal(image.array, sitk.GetArrayFromImage(itk_image))
    np.testing.assert_allclose(image.geometry.ijk_to_lps(), _geometry_of(itk_image), atol=1e-4)
