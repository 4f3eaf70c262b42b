"""``sdseg score`` reads a labelmap's voxels once, in their own type, whatever the file.

A spy wraps each real voxel decoder the readers use (the picture read, the NRRD fast path and
pynrrd's read, the NIfTI and MetaImage NumPy readers, SimpleITK's ``ImageFileReader.Execute``) and
counts the decodes; the labels are checked against what was written. Files are written with Pillow,
SimpleITK and pynrrd directly, as other tools write them.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io.label_files import read_label_volume
from io_test_helpers import ExecuteCounter
from test_score import write_labelmap
from test_score_exact_labels import BIG, _write_nrrd, big_labels  # noqa: F401 - big_labels: a pytest fixture (on this grid)


class VoxelReads:
    """Counts voxel decodes through the real reader functions (spies, not mocks)."""

    def __init__(self, monkeypatch):
        from SDSegLogic.io import _metaimage_voxels, _nifti_voxels, _nrrd, _nrrd_data, _photo

        self.sitk = ExecuteCounter(monkeypatch)
        self.calls = {}
        for module, name in ((_photo, "read_photo"), (_nrrd, "_read_scalar_volume"), (_nrrd, "read_nrrd_voxels"),
                             (_nrrd_data, "read_nrrd_voxels"), (_nifti_voxels, "read_nifti_voxels"),
                             (_metaimage_voxels, "read_metaimage_voxels")):
            monkeypatch.setattr(module, name, self._counting(name, getattr(module, name)))

    def _counting(self, name, real):
        def counting(*args, **kwargs):
            result = real(*args, **kwargs)
            if result is not None:  # the NRRD fast path declines with None, reading nothing
                self.calls[name] = self.calls.get(name, 0) + 1
            return result
        return counting

    @property
    def total(self) -> int:
        return sum(self.calls.values()) + self.sitk.calls


@pytest.fixture()
def grid():
    return ImageGeometry((0.9, 1.4, 2.5), (3.0, -7.0, 11.0), np.eye(3), (7, 6, 5))


@pytest.mark.parametrize("suffix", ["png", "tif"])
def test_a_16_bit_picture_labelmap_is_decoded_once(tmp_path, monkeypatch, suffix):
    Image = pytest.importorskip("PIL.Image")
    labels = np.zeros((9, 11), np.uint16)
    labels[2:5, 3:8] = 1
    labels[5:8, 1:4] = 257  # 1 on the 0..255 scale of a photo
    labels[6:9, 8:11] = 40000
    path = tmp_path / f"mask.{suffix}"
    Image.fromarray(labels).save(path)
    reads = VoxelReads(monkeypatch)
    volume = read_label_volume(path)
    assert reads.total == 1, reads.calls
    assert [s.value for s in volume.segments] == [1, 257, 40000]
    np.testing.assert_array_equal(volume.layers[0, 0], labels)


def test_a_32_bit_picture_labelmap_with_big_labels_is_decoded_once(tmp_path, monkeypatch, big_labels):
    Image = pytest.importorskip("PIL.Image")
    labels = big_labels[2].astype(np.int32)  # one (J, I) slice: both big labels and background
    path = tmp_path / "mask.tif"
    Image.fromarray(labels).save(path)
    reads = VoxelReads(monkeypatch)
    volume = read_label_volume(path)
    assert reads.total == 1, reads.calls
    np.testing.assert_array_equal(volume.layers[0, 0], labels)


@pytest.mark.parametrize("name,dtype", [("int32.nii.gz", np.int32), ("uint32.nrrd", np.uint32), ("int64.mha", np.int64),
                                        ("float64.nii", np.float64), ("pynrrd-int32.nrrd", np.int32),
                                        ("pynrrd-double.nrrd", np.float64), ("small-int16.nrrd", np.int16)])
def test_a_wide_integer_labelmap_is_decoded_once(tmp_path, monkeypatch, grid, big_labels, name, dtype):
    labels = big_labels if "small" not in name else np.where(big_labels > BIG, big_labels - BIG, big_labels)
    if name.startswith("pynrrd"):
        path = _write_nrrd(tmp_path / name, labels, grid, dtype)
    else:
        path = write_labelmap(tmp_path / name, labels, grid, dtype=dtype)
    reads = VoxelReads(monkeypatch)
    volume = read_label_volume(path)
    assert reads.total == 1, reads.calls
    np.testing.assert_array_equal(volume.layers[0], labels)
    assert volume.geometry.require_same(grid, what=name) is None
