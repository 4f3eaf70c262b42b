"""``sdseg score``: grids that share no voxel, and test-set reports that keep every case visible."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.cli_score import score_files
from SDSegLogic.errors import GeometryError
from SDSegLogic.geometry import ImageGeometry
from test_score import write_labelmap, write_seg_nrrd


@pytest.fixture()
def labels():
    out = np.zeros((10, 12, 12), np.uint8)
    out[2:5, 2:6, 3:7] = 1
    out[6:8, 7:10, 7:10] = 2
    return out


def test_a_reference_on_the_same_lattice_but_far_away_is_refused_not_scored(tmp_path, labels):
    """1 mm grids with whole-mm origins share a lattice: a file of another scan must not become a 'crop'
    (a common grid metres long, scored Dice 0 and HD in metres)."""
    grid = ImageGeometry((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3), (12, 12, 10))
    pred = write_labelmap(tmp_path / "pred.nrrd", labels, grid)
    far = ImageGeometry(grid.spacing, (0.0, 0.0, 3000.0), np.eye(3), grid.shape)
    with pytest.raises(GeometryError, match=r"far\.nrrd and .*pred\.nrrd share no voxel.*2991 mm away.*same scan"):
        score_files(str(pred), str(write_labelmap(tmp_path / "far.nrrd", labels, far)))
    beside = ImageGeometry(grid.spacing, (0.0, 0.0, -10.0), np.eye(3), grid.shape)  # touching, not overlapping
    with pytest.raises(GeometryError, match="share no voxel"):
        score_files(str(pred), str(write_labelmap(tmp_path / "beside.nrrd", labels, beside)))
    overlapping = ImageGeometry(grid.spacing, (0.0, 0.0, -9.0), np.eye(3), grid.shape)  # one slice in common
    assert score_files(str(pred), str(write_labelmap(tmp_path / "o.nrrd", labels, overlapping)))["grid"]["shape_ijk"] == [12, 12, 19]


def test_a_case_without_segment_pairs_stays_in_the_table_and_the_csv(tmp_path, labels, capsys):
    grid = ImageGeometry((0.8, 0.8, 2.0), (0.0, 0.0, 0.0), np.eye(3), (12, 12, 10))
    results, refs = tmp_path / "results", tmp_path / "labels"
    results.mkdir(), refs.mkdir()
    for case in ("a", "b"):
        write_seg_nrrd(results / f"{case}.seg.nrrd", labels[None], grid, [("liver", 1, 0), ("spleen", 2, 0)])
    write_seg_nrrd(refs / "a.seg.nrrd", labels[None], grid, [("liver", 1, 0), ("spleen", 2, 0)])
    write_seg_nrrd(refs / "b.seg.nrrd", labels[None], grid, [("Leber", 1, 0), ("Milz", 2, 0)])  # other names
    out = tmp_path / "scores.csv"
    assert main(["score", str(results), str(refs), "-o", str(out)]) == EXIT_OK
    table = capsys.readouterr().out
    assert "no segment pairs (see --pair); not scored: only in the prediction: liver, spleen; " \
           "only in the reference: Leber, Milz" in table
    assert [line.split()[4] for line in table.splitlines() if line.startswith("mean Dice over cases")] == ["1"]
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["case"] for r in rows] == ["a", "a", "b"]
    assert rows[2]["distance_note"].startswith("no segment pairs; only in the prediction: liver, spleen")
