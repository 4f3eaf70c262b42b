"""``sdseg score results/ labels/`` pairs a case stored as a DICOM series folder (``labels/ct001/slice_*.dcm``).

Before, the folder scanner looked at files only: a reference folder of one DICOM series per case gave
"no case ... has a reference", and a mix of files and series folders scored the files and silently dropped
the series cases. A subfolder that is not one DICOM series is reported as skipped, naming it.
The series are written with pydicom (``io_test_helpers.write_dicom_series``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.overlap_metrics import segment_scores
from io_test_helpers import write_dicom_series
from test_score import write_labelmap


@pytest.fixture()
def grid():
    return ImageGeometry((0.9, 1.4, 2.5), (3.0, -7.0, 11.0), np.eye(3), (7, 6, 5))


def _case(grid: ImageGeometry, shorten: int) -> tuple:
    """(prediction, reference) (K, J, I) int16: one organ, the prediction ``shorten`` slices shorter."""
    ref = np.zeros(grid.array_shape, np.int16)
    ref[0:4, 1:4, 1:5] = 1
    pred = ref.copy()
    pred[4 - shorten:4] = 0
    return pred, ref


def _series(folder: Path, labels: np.ndarray, grid: ImageGeometry, uid: str) -> Path:
    pytest.importorskip("pydicom")
    folder.mkdir(parents=True)
    write_dicom_series(folder, labels.astype(np.float64), grid, series_uid=uid, intercept=0.0)
    return folder


def test_reference_cases_as_dicom_series_folders_are_scored(tmp_path, grid):
    """ct001 and ct002 are series folders, ct003 a file: all three are scored, each against its own reference."""
    results, labels = tmp_path / "results", tmp_path / "labels"
    results.mkdir(), labels.mkdir()
    expected = {}
    for n, case in enumerate(("ct001", "ct002", "ct003"), start=1):
        pred, ref = _case(grid, n)
        write_labelmap(results / f"{case}.seg.nii.gz", pred, grid)
        if case == "ct003":
            write_labelmap(labels / f"{case}.nrrd", ref, grid)
        else:
            _series(labels / case, ref, grid, f"1.2.826.0.1.3680043.2.1125.77{n}")
        expected[case] = segment_scores(pred == 1, ref == 1, grid.spacing)["dice"]
    out = tmp_path / "scores.json"
    assert main(["score", str(results), str(labels), "-o", str(out)]) == EXIT_OK
    report = json.loads(out.read_text(encoding="utf-8"))
    got = {c["case"]: c["segments"][0]["dice"] for c in report["cases"]}
    assert got == pytest.approx(expected)
    assert report["reference_only"] == [] and report["skipped"] == []


def test_prediction_cases_as_series_folders_pair_too(tmp_path, grid):
    results, labels = tmp_path / "results", tmp_path / "labels"
    labels.mkdir()
    pred, ref = _case(grid, 1)
    _series(results / "ct001", pred, grid, "1.2.826.0.1.3680043.2.1125.781")
    write_labelmap(labels / "ct001.nrrd", ref, grid)
    out = tmp_path / "scores.json"
    assert main(["score", str(results), str(labels), "-o", str(out)]) == EXIT_OK
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [c["case"] for c in report["cases"]] == ["ct001"]
    assert report["cases"][0]["segments"][0]["dice"] == pytest.approx(segment_scores(pred == 1, ref == 1, grid.spacing)["dice"])


def test_a_subfolder_that_is_not_one_series_is_reported(tmp_path, grid, capsys):
    """A folder of two series (or of no DICOM at all) is no case: it is named as skipped, not dropped silently."""
    results, labels = tmp_path / "results", tmp_path / "labels"
    results.mkdir(), labels.mkdir()
    pred, ref = _case(grid, 1)
    write_labelmap(results / "ct001.seg.nrrd", pred, grid)
    write_labelmap(labels / "ct001.nrrd", ref, grid)
    write_labelmap(results / "ct002.seg.nrrd", pred, grid)
    two = _series(labels / "ct002", ref, grid, "1.2.826.0.1.3680043.2.1125.791")
    write_dicom_series(two, ref.astype(np.float64), grid, series_uid="1.2.826.0.1.3680043.2.1125.792",
                       intercept=0.0, prefix="other")
    (labels / "notes").mkdir()
    (labels / "notes" / "readme.txt").write_text("reader notes", encoding="utf-8")
    (labels / ".cache").mkdir()  # hidden: not reported
    out = tmp_path / "scores.json"
    assert main(["score", str(results), str(labels), "-o", str(out)]) == EXIT_OK
    text = capsys.readouterr().out
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [s["path"] for s in report["skipped"]] == [str(labels / "ct002"), str(labels / "notes")]
    assert "several DICOM series" in report["skipped"][0]["reason"]
    assert str(labels / "ct002") in text and str(labels / "notes") in text and ".cache" not in text
    assert report["prediction_only"] == ["ct002"]
