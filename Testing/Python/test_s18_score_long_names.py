"""The ``sdseg score`` tables show whole case and segment names: two long names that share their first 28 or 32
characters are two rows a reader can tell apart (before, both were cut to the same text).

Files are written with pynrrd (Slicer's ``.seg.nrrd`` fields, ``test_score.write_seg_nrrd``) and SimpleITK.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.geometry import ImageGeometry
from test_score import write_labelmap, write_seg_nrrd

SEGMENTS = ("Left anterior descending artery segment 1", "Left anterior descending artery segment 2")
CASES = ("LIDC-IDRI-0001_1.3.6.1.4.1.14519.5.2.1.6279.6001.1", "LIDC-IDRI-0001_1.3.6.1.4.1.14519.5.2.1.6279.6001.2")


@pytest.fixture()
def grid():
    return ImageGeometry((0.9, 1.2, 2.0), (4.0, -6.0, 10.0), np.eye(3), (8, 7, 5))


@pytest.fixture()
def labels(grid):
    out = np.zeros(grid.array_shape, np.uint8)
    out[1:4, 2:5, 2:6] = 1
    out[2:5, 5:7, 1:3] = 2
    return out


def _table_lines(text: str, names) -> list:
    return [line for line in text.splitlines() if any(line.startswith(name) for name in names)]


def test_long_segment_names_are_shown_whole(tmp_path, grid, labels, capsys):
    segments = [(SEGMENTS[0], 1, 0), (SEGMENTS[1], 2, 0)]
    pred = write_seg_nrrd(tmp_path / "pred.seg.nrrd", labels[None], grid, segments)
    ref = write_seg_nrrd(tmp_path / "ref.seg.nrrd", labels[None], grid, segments)
    assert main(["score", str(pred), str(ref)]) == EXIT_OK
    rows = _table_lines(capsys.readouterr().out, SEGMENTS)
    assert [row.split("  ")[0] for row in rows] == list(SEGMENTS)


def test_long_case_and_segment_names_are_shown_whole_in_the_test_set_table(tmp_path, grid, labels, capsys):
    preds, refs = tmp_path / "preds", tmp_path / "refs"
    preds.mkdir()
    refs.mkdir()
    segments = [(SEGMENTS[0], 1, 0), (SEGMENTS[1], 2, 0)]
    for case in CASES:
        write_seg_nrrd(preds / f"{case}.seg.nrrd", labels[None], grid, segments)
        write_labelmap(refs / f"{case}.nrrd", labels, grid)
    assert main(["score", str(preds), str(refs), "--pair", f"{SEGMENTS[0]}=1", "--pair", f"{SEGMENTS[1]}=2"]) == EXIT_OK
    out = capsys.readouterr().out
    assert [row.split(" ")[0] for row in _table_lines(out, CASES)] == list(CASES)
    assert [row.split("  ")[0] for row in _table_lines(out, SEGMENTS)] == list(SEGMENTS)
