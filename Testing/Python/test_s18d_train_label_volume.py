"""read_volume_lps(is_label=True) keeps label values exact or refuses them; it never wraps them through uint8."""

from __future__ import annotations

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from sdseg_training.data.preprocess import read_volume_lps  # noqa: E402
from sdseg_training.errors import DatasetError  # noqa: E402


def _write(path, array: np.ndarray) -> str:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.0, 1.0, 2.0))
    sitk.WriteImage(image, str(path))
    return str(path)


def test_label_300_in_nrrd_is_refused_not_wrapped(tmp_path):
    labels = np.zeros((3, 4, 5), np.uint16)
    labels[1, 1:3, 1:4] = 300  # an 8-bit cast would read 300 as 44
    path = _write(tmp_path / "label300.nrrd", labels)
    with pytest.raises(DatasetError) as info:
        read_volume_lps(path, is_label=True)
    assert "300" in str(info.value) and "label300.nrrd" in str(info.value)


def test_float_label_near_integer_is_rounded_not_truncated(tmp_path):
    labels = np.zeros((3, 4, 5), np.float32)
    labels[1, 1:3, 1:4] = 1.999998  # resampled class 2; truncation would make it class 1
    path = _write(tmp_path / "resampled.nii.gz", labels)
    array, _ = read_volume_lps(path, is_label=True)
    assert sorted(np.unique(array).tolist()) == [0, 2]
    assert int((array == 2).sum()) == int((labels > 0).sum())


def test_small_integer_labels_are_kept(tmp_path):
    labels = np.zeros((3, 4, 5), np.int16)
    labels[2, 0, 0], labels[0, 3, 4] = 255, 7
    array, spacing = read_volume_lps(_write(tmp_path / "ok.nrrd", labels), is_label=True)
    assert sorted(np.unique(array).tolist()) == [0, 7, 255] and spacing[2] == 2.0
