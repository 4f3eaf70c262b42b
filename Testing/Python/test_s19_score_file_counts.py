"""Folder-mode score counts the files it found in words a person reads: "1 file", not "1 files"."""

from __future__ import annotations

import numpy as np

from cli_segment_fixtures import run
from SDSegLogic.geometry import ImageGeometry
from test_score import write_labelmap

GRID = ImageGeometry((1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3), (6, 5, 4))


def test_unpaired_folders_count_one_file_in_the_singular(tmp_path, capsys):
    results, truth = tmp_path / "results", tmp_path / "truth"
    results.mkdir()
    truth.mkdir()
    labels = np.zeros(GRID.array_shape, np.int16)
    labels[1:3, 1:3, 1:3] = 1
    write_labelmap(results / "ct001.nrrd", labels, GRID)
    write_labelmap(truth / "ct002.nrrd", labels, GRID)
    write_labelmap(truth / "ct003.nrrd", labels, GRID)
    code, _, err = run(["score", results, truth], capsys)
    assert code != 0
    assert "(1 file)" in err and "(2 files)" in err, err
