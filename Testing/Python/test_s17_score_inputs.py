"""``sdseg score`` on files it cannot score as they are: the refusal names the file and a remedy ``score`` accepts.

Files are written with SimpleITK directly, as other tools write them.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.geometry import ImageGeometry
from test_score import write_labelmap


@pytest.fixture()
def grid():
    return ImageGeometry((0.8, 1.3, 2.5), (5.0, -3.0, 40.0), np.eye(3), (12, 11, 9))


@pytest.fixture()
def labels(grid):
    """(K, J, I) uint8: liver (1) and spleen (2) drawn on the ``grid`` fixture of the test's own module."""
    out = np.zeros(grid.array_shape, np.uint8)
    out[2:6, 3:8, 2:9] = 1
    out[5:8, 1:4, 6:11] = 2
    return out


def test_a_4d_labelmap_is_refused_with_a_remedy_score_accepts(tmp_path, grid, labels, capsys):
    """``sdseg score`` has no ``--frame``: the refusal must not send the user to it."""
    import SimpleITK as sitk

    from SDSegLogic.cli import EXIT_INPUT, main

    frames = tmp_path / "frames.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.stack([labels, labels]), isVector=False), str(frames))
    reference = write_labelmap(tmp_path / "ref.nii.gz", labels, grid)
    assert main(["score", str(frames), str(reference)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert str(frames) in err and "several frames" in err and "--frame" not in err


def test_a_seg_nrrd_is_read_as_any_nrrd_is_every_gzip_member(tmp_path, grid, labels):
    """gzip data in two members (``cat a.gz b.gz``, bgzip) is read for a labelmap NRRD; a .seg.nrrd must not differ."""
    import gzip

    from SDSegLogic.cli_score import score_files
    from SDSegLogic.io.label_files import read_label_volume
    from test_score import write_seg_nrrd

    path = write_seg_nrrd(tmp_path / "one.seg.nrrd", labels[None], grid, [("liver", 1, 0), ("spleen", 2, 0)])
    head, _, packed = path.read_bytes().partition(b"\n\n")
    data = gzip.decompress(packed)
    assert b"encoding: gzip" in head and len(data) == labels.size
    half = len(data) // 2
    two = tmp_path / "two.seg.nrrd"
    two.write_bytes(head + b"\n\n" + gzip.compress(data[:half]) + gzip.compress(data[half:]))
    np.testing.assert_array_equal(read_label_volume(two).layers, read_label_volume(path).layers)
    assert [r["dice"] for r in score_files(str(two), str(write_labelmap(tmp_path / "ref.nrrd", labels, grid)),
                                           ["liver=1", "spleen=2"])["segments"]] == [1.0, 1.0]
