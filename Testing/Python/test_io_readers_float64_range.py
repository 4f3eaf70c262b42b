"""float64 files holding finite values beyond float32 (1e300): named as out of range, not as NaN.

Every reader casts voxels to float32 once; before, such a value became infinite there and the
run was refused with "NaN or infinite" (or, with ``--nan-policy fill``, silently replaced).
"""

from __future__ import annotations

import numpy as np
import nrrd
import pytest
import SimpleITK as sitk

from SDSegLogic.errors import InputError
from SDSegLogic.io.readers import read_image



def _volume() -> np.ndarray:
    """(4, 5, 6) float64 CT-like values with one 1e300 at (k, j, i) = (2, 3, 4)."""
    array = np.full((4, 5, 6), -1000.0)
    array[2, 3, 4] = 1e300
    return array


def _write(path, array: np.ndarray) -> None:
    name = path.name
    if name.endswith(".nrrd"):
        encoding = "gzip" if "gz" in name else "raw"
        nrrd.write(str(path), np.ascontiguousarray(array.transpose(2, 1, 0)), {
            "space": "left-posterior-superior", "encoding": encoding,
            "space directions": np.eye(3), "space origin": np.zeros(3)}, index_order="F")
    else:
        sitk.WriteImage(sitk.GetImageFromArray(array), str(path))


@pytest.mark.parametrize("name", ["raw.nrrd", "gz.nrrd", "ct.nii.gz", "ct.mha", "ct.nii"])
def test_a_double_beyond_float32_is_refused_as_out_of_range_naming_the_file(tmp_path, name):
    path = tmp_path / name
    _write(path, _volume())
    with pytest.raises(InputError) as caught:
        read_image(path)
    message = str(caught.value)
    assert name in message
    assert "beyond the float32 range" in message and "1e+300" in message
    assert "NaN or infinite" not in message


def test_a_double_file_within_float32_still_reads_exactly(tmp_path):
    array = _volume()
    array[2, 3, 4] = -3.0e38  # inside the float32 range
    path = tmp_path / "ok.nrrd"
    _write(path, array)
    image = read_image(path)
    assert image.array.dtype == np.float32
    assert np.array_equal(image.array, array.astype(np.float32))


def test_a_real_infinity_in_a_double_file_is_left_to_the_nan_policy(tmp_path):
    array = _volume()
    array[2, 3, 4] = np.inf
    path = tmp_path / "inf.nrrd"
    _write(path, array)
    image = read_image(path)
    assert np.isinf(image.array[2, 3, 4])
