"""A DICOM SEG drawn on a series with thicker slices, scored on a finer lattice: scored, with a warning.

The SEG is written with pydicom (``test_score_pairing.write_dicom_seg``: one frame per non-empty slice, as
exporters write them) with frames on every second slice of the reference's grid only, as a SEG of a 5 mm
series lies on the lattice of a 2.5 mm reconstruction of the same acquisition. The reference labelmap is
written with SimpleITK.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.cli_score import score_files
from SDSegLogic.cli_score_batch import score_folders
from SDSegLogic.geometry import ImageGeometry
from test_score import write_labelmap
from test_score_pairing import write_dicom_seg


@pytest.fixture()
def grid():
    direction = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
    return ImageGeometry((0.8, 1.3, 2.5), (-20.0, 15.5, 3.25), direction, (8, 7, 10))


@pytest.fixture()
def labels(grid):
    """(K, J, I) uint16: one organ through slices 1 to 8."""
    out = np.zeros(grid.array_shape, np.uint16)
    out[1:9, 2:6, 2:7] = 1
    return out


def _coarse_seg(path: Path, grid: ImageGeometry, labels: np.ndarray) -> Path:
    """A SEG of ``labels`` with frames on the even slices 2, 4, 6, 8 only."""
    mask = labels == 1
    mask[1::2] = False
    return write_dicom_seg(path, grid, [mask], ["liver"], [1])


def _warning_of(report) -> str:
    found = [w for w in report["warnings"] if "slice" in w and "%" in w]
    assert len(found) == 1, report["warnings"]
    return found[0]


def test_a_seg_on_every_second_slice_is_scored_with_a_warning_naming_the_coverage(tmp_path, grid, labels, capsys):
    pytest.importorskip("pydicom")
    seg = _coarse_seg(tmp_path / "pred.seg.dcm", grid, labels)
    ref = write_labelmap(tmp_path / "ref.nrrd", labels, grid)
    report = score_files(str(seg), str(ref))
    assert report["segments"][0]["dice"] < 0.8  # the slices between the SEG's frames count as misses
    warning = _warning_of(report)
    assert str(seg) in warning and "4 of the 7" in warning and "57%" in warning  # slices 2..8: 2, 4, 6, 8
    out_csv, out_json = tmp_path / "scores.csv", tmp_path / "scores.json"
    assert main(["score", str(seg), str(ref), "-o", str(out_csv)]) == EXIT_OK
    assert f"warning: {warning}" in capsys.readouterr().out
    assert warning in list(csv.DictReader(out_csv.open(encoding="utf-8")))[0]["warnings"]
    assert main(["score", str(ref), str(seg), "-o", str(out_json), "--json"]) == EXIT_OK  # as the reference too
    assert json.loads(out_json.read_text(encoding="utf-8"))["warnings"] == [warning]


def test_the_warning_reaches_the_table_csv_and_json_of_a_test_set(tmp_path, grid, labels, capsys):
    pytest.importorskip("pydicom")
    preds, refs = tmp_path / "preds", tmp_path / "refs"
    preds.mkdir()
    refs.mkdir()
    _coarse_seg(preds / "ct001.seg.dcm", grid, labels)
    write_labelmap(refs / "ct001.nrrd", labels, grid)
    write_dicom_seg(preds / "ct002.seg.dcm", grid, [labels == 1], ["liver"], [1])  # every slice: no warning
    write_labelmap(refs / "ct002.nrrd", labels, grid)
    report = score_folders(preds, refs)
    first, second = report["cases"]
    warning = _warning_of(first)
    assert second["warnings"] == [] and second["mean_dice"] == 1.0
    out_csv, out_json = tmp_path / "set.csv", tmp_path / "set.json"
    assert main(["score", str(preds), str(refs), "-o", str(out_csv)]) == EXIT_OK
    assert f"warning, case ct001: {warning}" in capsys.readouterr().out
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert [r["warnings"] for r in rows] == [warning, ""]
    assert main(["score", str(preds), str(refs), "-o", str(out_json)]) == EXIT_OK
    assert json.loads(out_json.read_text(encoding="utf-8"))["cases"][0]["warnings"] == [warning]


def test_a_seg_with_a_gap_between_two_lesions_has_no_warning(tmp_path, grid, labels):
    """Frames on slices 1-3 and 6-8 (two lesions): every frame's neighbour slice is there, nothing coarse."""
    pytest.importorskip("pydicom")
    lesions = labels.copy()
    lesions[4:6] = 0
    seg = write_dicom_seg(tmp_path / "pred.seg.dcm", grid, [lesions == 1], ["lesion"], [1])
    ref = write_labelmap(tmp_path / "ref.nrrd", lesions, grid)
    report = score_files(str(seg), str(ref))
    assert report["warnings"] == [] and report["mean_dice"] == 1.0
