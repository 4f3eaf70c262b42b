"""A NIfTI scl_slope of 0 (or NaN) with a non-zero scl_inter is read as ITK (so 3D Slicer) reads it: stored + inter.

The NIfTI standard says a slope of 0 means no scaling at all; ITK's NiftiImageIO takes the slope as 1 and still adds
the intercept. The reader follows ITK, so the voxels segmented are those Slicer shows; this keeps both NumPy paths
(float32 and the labelmap's exact integers) equal to SimpleITK's own reading.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_io_nifti_crash_guard import nifti1

from SDSegLogic.io.readers import read_image, read_voxels

sitk = pytest.importorskip("SimpleITK")


@pytest.mark.parametrize("slope, intercept", [(0.0, 10.0), (float("nan"), 5.0), (0.0, 0.0)])
@pytest.mark.parametrize("datatype, stored", [(4, "<i2"), (16, "<f4")])
def test_zero_or_nan_slope_reads_as_simpleitk_reads_it(slope, intercept, datatype, stored, tmp_path):
    path = tmp_path / "image.nii"
    path.write_bytes(nifti1((4, 3, 2), datatype, slope=slope, intercept=intercept,
                            data=np.arange(24, dtype=stored).tobytes()))
    itk = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    assert np.array_equal(read_image(path).array, itk.astype(np.float32))
    assert np.array_equal(read_voxels(path)[0], itk)
