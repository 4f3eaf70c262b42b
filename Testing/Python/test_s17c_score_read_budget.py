"""``sdseg score`` reads a ``.seg.nrrd`` under the same memory budget as a labelmap, and
:func:`SDSegLogic.io.readers.read_voxels` gives a labelmap's voxels as the file stores them.

The segmentations are written by ``sdseg segment`` with a real tiny model (``.seg.nrrd`` and ``.nrrd`` of
the same grid), the wide-integer NRRD by pynrrd and the 16-bit PNG by Pillow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_segment_fixtures import crop, isolated_home, run, tiny_folder  # noqa: F401 - pytest fixtures

from SDSegLogic.cli import EXIT_OK
from SDSegLogic.errors import InputError
from SDSegLogic.io.label_files import read_label_volume
from SDSegLogic.io.readers import read_image, read_voxels


@pytest.fixture()
def outputs(tmp_path, crop, tiny_folder, capsys) -> Path:  # noqa: F811 - the fixtures imported above
    """``ct.seg.nrrd`` and ``ct.nrrd``: one segmentation of a 4 x 208 x 256 CT written in both formats."""
    for name in ("ct.seg.nrrd", "ct.nrrd"):
        code, _, err = run(["segment", crop, "-o", tmp_path / name, "--model", tiny_folder, "--quiet"], capsys)
        assert code == EXIT_OK, err
    return tmp_path


def test_a_seg_nrrd_over_the_memory_budget_is_refused_before_reading_as_a_labelmap_is(outputs, monkeypatch,
                                                                                       capsys):
    voxels = int(np.prod(read_label_volume(outputs / "ct.seg.nrrd").layers.shape))
    monkeypatch.setenv("SDSEG_MAX_BYTES", str(voxels))  # a quarter of the float32 copy the budget counts
    with pytest.raises(InputError, match="memory budget") as labelmap:
        read_label_volume(outputs / "ct.nrrd")
    with pytest.raises(InputError, match="memory budget") as seg:
        read_label_volume(outputs / "ct.seg.nrrd")
    assert "ct.seg.nrrd" in str(seg.value) and "SDSEG_MAX_BYTES" in str(seg.value)
    assert "SDSEG_MAX_BYTES" in str(labelmap.value)
    code, out, err = run(["score", outputs / "ct.seg.nrrd", outputs / "ct.seg.nrrd"], capsys)
    assert code != EXIT_OK and "memory budget" in out + err


def test_read_voxels_keeps_wide_nrrd_labels_exact_and_geometry_as_read_image(tmp_path):
    nrrd = pytest.importorskip("nrrd")
    labels = np.zeros((3, 4, 5), np.uint32)  # (K, J, I)
    labels[1, 2, 3], labels[2, 0, 1] = 2 ** 24 + 1, 2 ** 24
    path = tmp_path / "wide.nrrd"
    nrrd.write(str(path), np.transpose(labels, (2, 1, 0)), {"space": "left-posterior-superior",
               "space directions": np.diag([0.5, 0.7, 2.0]), "space origin": np.array([1.0, -2.0, 3.0])},
               index_order="F")
    voxels, geometry = read_voxels(path)
    assert voxels.dtype == np.uint32 and np.array_equal(voxels, labels)
    assert geometry == read_image(path).geometry
    assert read_image(path).array[1, 2, 3] == 2 ** 24  # the float32 image rounds the label: why read_voxels exists
    with pytest.raises(InputError, match="memory budget"):
        read_voxels(path, max_bytes=labels.size * 4 - 1)


def test_read_voxels_keeps_a_16_bit_picture_unscaled(tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    labels = np.array([[0, 1, 2], [257, 0, 65535]], np.uint16)
    path = tmp_path / "mask.png"
    image_module.fromarray(labels).save(path)
    voxels, geometry = read_voxels(path)
    assert np.array_equal(voxels[0], labels) and geometry.array_shape == (1, 2, 3)
