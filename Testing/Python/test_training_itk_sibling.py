"""Training's volume readers read the file they are given, not a ``.nii`` namesake beside it.

ITK's NIfTI library, asked for ``case.nii.gz``, reads the header from it but the voxels from
``case.nii`` when that file exists; a dataset folder holding an unzipped older copy then trains
on the wrong voxels with no error. Real SimpleITK files, no mocks.
"""

from __future__ import annotations

import numpy as np

from sdseg_training.data.preprocess import read_oriented, read_volume_lps


def _write(path, array):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.9, 2.5))
    sitk.WriteImage(image, str(path))


def test_nii_gz_beside_a_nii_namesake_reads_its_own_voxels(tmp_path):
    wanted = np.arange(4 * 6 * 5, dtype=np.int16).reshape(4, 6, 5)
    _write(tmp_path / "case.nii.gz", wanted)
    _write(tmp_path / "case.nii", np.full_like(wanted, -7))  # a stale, different copy beside it
    array, spacing = read_volume_lps(str(tmp_path / "case.nii.gz"))
    oriented, geometry = read_oriented(str(tmp_path / "case.nii.gz"))
    # written with an identity (LPS) direction, so reorienting to LPS changes nothing
    assert np.array_equal(array, wanted.astype(np.float32))
    assert np.array_equal(oriented, wanted)
    assert np.allclose(spacing, (0.8, 0.9, 2.5))
    assert geometry.array_shape == (4, 6, 5)
    stale, _ = read_volume_lps(str(tmp_path / "case.nii"))
    assert np.all(stale == -7)
