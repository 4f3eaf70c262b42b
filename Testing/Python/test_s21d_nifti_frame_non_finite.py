"""NaN/infinite voxels of a 4-D float NIfTI (read by ITK) are reported for the frame read, not for the file.

Before: reading frame 1 of a file whose only NaN is in frame 0 warned "1 voxel value(s) are NaN or infinite
(first at index (t, k, j, i) = (0, 0, 1, 2)) ... segmented as 0" although no voxel of frame 1 was changed,
and the count of a frame with NaN included the other frames' NaN.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.io import read_image

sitk = pytest.importorskip("SimpleITK")


@pytest.fixture(params=["t.nii", "t.nii.gz"])
def four_d(tmp_path, request):
    """A 2-frame float32 NIfTI (t, k, j, i) = (2, 2, 3, 4): one NaN in frame 0, an inf and a NaN in frame 1."""
    array = np.arange(48, dtype=np.float32).reshape(2, 2, 3, 4) + 1
    array[0, 0, 1, 2] = np.nan
    array[1, 1, 0, 3] = np.inf
    array[1, 1, 2, 0] = np.nan
    path = tmp_path / request.param
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=False), str(path))
    return path


def _nan_warnings(data):
    return [w for w in data.metadata["warnings"] if "NaN or infinite" in w]


def test_each_frame_reports_only_its_own_non_finite_voxels(four_d):
    with pytest.warns(UserWarning, match=r"1 voxel value\(s\) .*index \(k, j, i\) = \(0, 1, 2\) of frame 0"):
        first = read_image(four_d, frame=0)
    assert len(_nan_warnings(first)) == 1 and first.array[0, 1, 2] == 0
    second = read_image(four_d, frame=1)
    found = _nan_warnings(second)
    assert len(found) == 1 and "2 voxel value(s)" in found[0] and "(1, 0, 3) of frame 1" in found[0]
    assert np.all(np.isfinite(second.array))


def test_a_frame_without_non_finite_voxels_gets_no_warning(tmp_path):
    array = np.arange(48, dtype=np.float32).reshape(2, 2, 3, 4)
    array[0, 1, 1, 1] = np.nan
    path = tmp_path / "one.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=False), str(path))
    data = read_image(path, frame=1)
    assert _nan_warnings(data) == []
    np.testing.assert_array_equal(data.array, array[1])
