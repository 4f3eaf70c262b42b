"""``sdseg score`` with DICOM series folders: the right usage message, and each case folder listed once.

* ``sdseg score SERIES/ refs/`` (a prediction that is one DICOM series, references that are a folder of NIfTI
  cases) said "no DICOM series found" about the references; it now says the prediction is one labelmap and a folder
  of predictions is needed (or one reference file).
* Folder mode lists every case subfolder to see that it is one DICOM series, then reads it. Only the last listing
  was kept, so every series subfolder but the last was listed twice; the last few listings are kept now, and the
  subfolders are classified last case first so that those kept are the ones scored first. GDCM listings are counted
  by a spy around the real SimpleITK method (as in ``test_s19_readers_dicom_listing_once``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, EXIT_USAGE, main
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io import _dicom_listing
from SDSegLogic.io.readers import read_image
from SDSegLogic.overlap_metrics import segment_scores
from dicom_label_helpers import grid  # noqa: F401 - a pytest fixture
from io_test_helpers import write_dicom_series
from test_s19_readers_dicom_listing_once import ListingCounter
from test_s19_score_series_listing import labels  # noqa: F401 - a pytest fixture
from test_score import write_labelmap

pytest.importorskip("pydicom")
_UID = "1.2.826.0.1.3680043.2.1125.198"


def _series(folder: Path, labels: np.ndarray, grid: ImageGeometry, uid: str) -> Path:
    """A label series written a minute ago (a listing of a folder written just now is never kept)."""
    folder.mkdir(parents=True)
    write_dicom_series(folder, labels.astype(np.float64), grid, series_uid=uid, intercept=0.0)
    then = time.time() - 60.0
    for path in folder.iterdir():
        os.utime(path, (then, then))
    return folder


def test_a_series_against_a_folder_of_references_asks_for_a_folder_of_predictions(tmp_path, grid, labels, capsys):
    pred, ref = labels
    series = _series(tmp_path / "ct001", pred, grid, f"{_UID}.1")
    refs = tmp_path / "refs"
    refs.mkdir()
    write_labelmap(refs / "ct001.nii.gz", ref, grid)
    assert main(["score", str(series), str(refs)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "no DICOM series found" not in err
    assert str(refs) in err and str(series) in err and "folder of predictions" in err and "ct001.nii.gz" in err
    assert "DICOM series" in err  # says what the prediction is


@pytest.mark.parametrize("prediction_is", ["file", "series"])
def test_a_folder_of_series_subfolders_as_the_reference_asks_for_a_folder_of_predictions(
        tmp_path, grid, labels, capsys, prediction_is):
    """``refs/ct001/*.dcm``: a folder of cases whose cases are DICOM series folders, not a DICOM series."""
    pred, ref = labels
    refs = tmp_path / "refs"
    _series(refs / "ct001", ref, grid, f"{_UID}.2")
    if prediction_is == "file":
        prediction = write_labelmap(tmp_path / "ct001.nii.gz", pred, grid)
    else:
        prediction = _series(tmp_path / "ct001", pred, grid, f"{_UID}.3")
    assert main(["score", str(prediction), str(refs)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "no DICOM series found" not in err
    assert str(refs) in err and str(prediction) in err and "folder of predictions" in err and "(ct001, ...)" in err


def test_a_series_scored_against_a_series_is_still_one_pair(tmp_path, grid, labels):
    pred, ref = labels
    prediction = _series(tmp_path / "pred", pred, grid, f"{_UID}.4")
    reference = _series(tmp_path / "ref", ref, grid, f"{_UID}.5")
    out = tmp_path / "one.json"
    assert main(["score", str(prediction), str(reference), "-o", str(out)]) == EXIT_OK
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [r["dice"] for r in report["segments"]] == [segment_scores(pred == 1, ref == 1, grid.spacing)["dice"]]


def test_folder_mode_lists_each_series_subfolder_once(tmp_path, grid, labels, monkeypatch):
    pred, ref = labels
    results, refs = tmp_path / "results", tmp_path / "labels"
    results.mkdir()
    cases = ["ct001", "ct002", "ct003", "ct004"]
    for n, case in enumerate(cases):
        write_labelmap(results / f"{case}.nii.gz", pred, grid)
        _series(refs / case, ref, grid, f"{_UID}.{10 + n}")
    counter = ListingCounter(monkeypatch)
    out = tmp_path / "set.json"
    assert main(["score", str(results), str(refs), "-o", str(out)]) == EXIT_OK
    assert counter.calls == len(cases)
    report = json.loads(out.read_text(encoding="utf-8"))
    expected = segment_scores(pred == 1, ref == 1, grid.spacing)["dice"]
    assert [c["case"] for c in report["cases"]] == cases and report["skipped"] == []
    assert all(c["mean_dice"] == pytest.approx(expected) for c in report["cases"])


def test_with_more_cases_than_listings_kept_the_first_cases_scored_reuse_theirs(tmp_path, grid, labels, monkeypatch):
    pred, ref = labels
    results, refs = tmp_path / "results", tmp_path / "labels"
    results.mkdir()
    cases = ["ct001", "ct002", "ct003", "ct004", "ct005"]
    for n, case in enumerate(cases):
        write_labelmap(results / f"{case}.nrrd", pred, grid)
        _series(refs / case, ref, grid, f"{_UID}.{20 + n}")
    monkeypatch.setattr(_dicom_listing, "MAX_LISTINGS", 2)
    counter = ListingCounter(monkeypatch)
    assert main(["score", str(results), str(refs), "-o", str(tmp_path / "set.csv")]) == EXIT_OK
    assert counter.calls == len(cases) + (len(cases) - 2)  # classified once each; all but the 2 kept read again


def test_the_listings_kept_are_bounded_and_most_recently_used_first(tmp_path, grid, labels, monkeypatch):
    """Three folders, two kept: reading the first again lists it anew, the last two are reused."""
    _, ref = labels
    folders = [_series(tmp_path / name, ref, grid, f"{_UID}.{30 + n}") for n, name in enumerate("abc")]
    monkeypatch.setattr(_dicom_listing, "MAX_LISTINGS", 2)
    counter = ListingCounter(monkeypatch)
    for folder in folders:
        read_image(folder)
    assert counter.calls == 3
    read_image(folders[2])
    read_image(folders[1])
    assert counter.calls == 3
    read_image(folders[0])  # evicted: listed again, and now kept in place of the least recently used (c)
    assert counter.calls == 4
    read_image(folders[1])
    read_image(folders[0])
    assert counter.calls == 4
    monkeypatch.setattr(_dicom_listing, "MAX_FILES", 1)  # the newest listing alone, whatever its size
    read_image(folders[2])
    read_image(folders[2])
    assert counter.calls == 5
    read_image(folders[0])
    assert counter.calls == 6
