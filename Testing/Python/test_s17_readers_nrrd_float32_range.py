"""A double beyond float32 in a 3-D NRRD is refused with the voxel's (k, j, i) index, as for NIfTI and MetaImage.

The NRRD fast path casts the data piece by piece; its refusal named the voxel by its position inside a
4 MiB piece, labelled ``(k, j, i) = (33,)``, and counted only that piece's values.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image

sitk = pytest.importorskip("SimpleITK")


@pytest.mark.parametrize("suffix, compress", [(".nrrd", False), (".nrrd", True), (".mha", False), (".nii.gz", True)])
def test_beyond_float32_names_the_voxel_by_k_j_i(tmp_path, suffix, compress):
    volume = np.zeros((3, 4, 5), np.float64)
    volume[1, 2, 3], volume[2, 0, 1] = -1e39, 2e39
    path = tmp_path / f"dose{suffix}"
    sitk.WriteImage(sitk.GetImageFromArray(volume), str(path), compress)
    with pytest.raises(InputError) as info:
        read_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: 2 voxel value(s) lie beyond the float32 range"), message
    assert "the first is -1e+39 at index (k, j, i) = (1, 2, 3)" in message, message
    assert "rescale the image, or clip it" in message


def test_values_beyond_float32_in_several_pieces_are_all_counted(tmp_path):
    volume = np.zeros((40, 128, 128), np.float64)  # 5 MiB of doubles: two pieces of the fast path
    volume[0, 0, 7], volume[39, 127, 100] = 1e300, -1e300
    path = tmp_path / "big.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(volume), str(path), True)
    with pytest.raises(InputError, match=r"big\.nrrd: 2 voxel value\(s\) .* first is 1e\+300 at index \(k, j, i\) = "
                                         r"\(0, 0, 7\)"):
        read_image(path)
    volume[0, 0, 7] = 1e10  # within float32: read as it is
    volume[39, 127, 100] = -1e10
    sitk.WriteImage(sitk.GetImageFromArray(volume), str(path), True)
    data = read_image(path)
    assert data.array[39, 127, 100] == np.float32(-1e10) and data.array[0, 0, 7] == np.float32(1e10)
