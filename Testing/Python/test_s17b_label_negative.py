"""An image given as a labelmap (negative values) is refused naming the file, the first voxel, its value and the remedy."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io.label_files import read_label_volume

sitk = pytest.importorskip("SimpleITK")
SAMPLE_CT = Path(__file__).resolve().parents[2] / "Resources" / "Samples" / "ct-chest-abdomen.nrrd"


def _first_bad(array: np.ndarray) -> tuple:
    return tuple(int(v) for v in np.argwhere(array < 0)[0])


def test_ct_given_as_labelmap_names_voxel_value_and_remedy(tmp_path):
    """Two slices of the bundled CT (HU, air at -1000) given to ``sdseg score`` as the reference labelmap."""
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(sitk.ReadImage(str(SAMPLE_CT))[:, :, 30:32], str(path))
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    first = _first_bad(array)
    with pytest.raises(InputError) as info:
        read_label_volume(path)
    message = str(info.value)
    assert str(path) in message
    assert f"(k, j, i) {first}" in message
    assert re.search(rf"label {int(array[first])}\b", message)
    assert "looks like an image" in message and "give the segmentation file" in message.lower()


def test_huge_negative_float_value_is_located(tmp_path):
    """A float labelmap with -1e10 at one voxel: that voxel and its value are named."""
    array = np.zeros((3, 4, 5), np.float32)
    array[1, 2, 3] = 1.0
    array[2, 1, 4] = -1e10
    path = tmp_path / "labels.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    with pytest.raises(InputError, match=r"labels\.nrrd: negative label -10000000000 at voxel \(k, j, i\) \(2, 1, 4\).*"
                                         r"labels must be >= 0"):
        read_label_volume(path)
