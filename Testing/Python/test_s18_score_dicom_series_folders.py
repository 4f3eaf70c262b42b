"""``sdseg score`` given a DICOM series folder scores it as one labelmap, not each slice file as a case.

The label series are written with pydicom (``io_test_helpers.write_dicom_series``: one ``slice_NNN.dcm`` per
k-slice, as scanners and PACS exports lay them out); the other files with SimpleITK.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, EXIT_USAGE, main
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.overlap_metrics import segment_scores
from dicom_label_helpers import grid  # noqa: F401 - a pytest fixture
from io_test_helpers import write_dicom_series
from test_score import write_labelmap
from test_score_pairing import write_dicom_seg


@pytest.fixture()
def labels(grid):
    """Prediction and reference (K, J, I): one organ, the prediction one slice shorter."""
    ref = np.zeros(grid.array_shape, np.int16)
    ref[1:4, 1:4, 1:5] = 1
    pred = ref.copy()
    pred[3] = 0
    return pred, ref


def _series(folder: Path, labels: np.ndarray, grid: ImageGeometry, uid: str) -> Path:
    pytest.importorskip("pydicom")
    folder.mkdir()
    write_dicom_series(folder, labels.astype(np.float64), grid, series_uid=uid, intercept=0.0)
    return folder


def test_two_dicom_series_folders_are_one_pair_of_volumes(tmp_path, grid, labels, capsys):
    """Before, every slice file was a 'case' (each read as its whole series): five cases of one volume pair."""
    pred, ref = labels
    a = _series(tmp_path / "pred", pred, grid, "1.2.826.0.1.3680043.2.1125.8001")
    b = _series(tmp_path / "ref", ref, grid, "1.2.826.0.1.3680043.2.1125.8002")
    out = tmp_path / "scores.json"
    assert main(["score", str(a), str(b), "-o", str(out)]) == EXIT_OK
    assert "slice_000" not in capsys.readouterr().out
    report = json.loads(out.read_text(encoding="utf-8"))
    assert "cases" not in report
    assert [r["dice"] for r in report["segments"]] == [segment_scores(pred == 1, ref == 1, grid.spacing)["dice"]]


def test_a_dicom_series_prediction_against_a_file_is_scored(tmp_path, grid, labels):
    """A folder that is a DICOM series is a labelmap, not 'a folder of predictions' that needs a folder of references."""
    pred, ref = labels
    series = _series(tmp_path / "pred", pred, grid, "1.2.826.0.1.3680043.2.1125.8003")
    reference = write_labelmap(tmp_path / "ref.nrrd", ref, grid)
    out = tmp_path / "scores.json"
    assert main(["score", str(series), str(reference), "-o", str(out)]) == EXIT_OK
    expected = segment_scores(pred == 1, ref == 1, grid.spacing)["dice"]
    assert [r["dice"] for r in json.loads(out.read_text(encoding="utf-8"))["segments"]] == [expected]


def test_a_folder_of_dicom_segs_is_still_a_folder_of_cases(tmp_path, grid, labels):
    """SEG files (``ct001.seg.dcm``) in a folder are cases, each placed on its reference's grid."""
    pred, ref = labels
    preds, refs = tmp_path / "preds", tmp_path / "refs"
    preds.mkdir()
    refs.mkdir()
    for case in ("ct001", "ct002"):
        write_dicom_seg(preds / f"{case}.seg.dcm", grid, [pred == 1], ["liver"], [1])
        write_labelmap(refs / f"{case}.nrrd", ref, grid)
    out = tmp_path / "set.json"
    assert main(["score", str(preds), str(refs), "-o", str(out)]) == EXIT_OK
    assert [c["case"] for c in json.loads(out.read_text(encoding="utf-8"))["cases"]] == ["ct001", "ct002"]


def test_a_folder_of_one_dicom_file_per_case_is_still_a_folder_of_cases(tmp_path, grid, labels):
    """``ct001.dcm`` and ``ct002.dcm``, each a series of its own (one file per case), are two cases, not one series."""
    pred, ref = labels
    preds, refs = tmp_path / "preds", tmp_path / "refs"
    preds.mkdir()
    refs.mkdir()
    for n, case in enumerate(("ct001", "ct002")):
        _series(tmp_path / case, pred, grid, f"1.2.826.0.1.3680043.2.1125.81{n}")
        (tmp_path / case / "slice_000.dcm").rename(preds / f"{case}.dcm")  # one file of its own series per case
        write_labelmap(refs / f"{case}.nrrd", ref, grid)
    from SDSegLogic.cli_score_batch import is_dicom_series_folder

    assert not is_dicom_series_folder(preds)
    assert is_dicom_series_folder(tmp_path / "ct001")


def test_a_file_against_a_folder_of_references_is_a_usage_error_naming_both(tmp_path, grid, labels, capsys):
    """Before: 'no DICOM series found' (the folder of NIfTI references was read as a DICOM series)."""
    pred, ref = labels
    refs = tmp_path / "refs"
    refs.mkdir()
    write_labelmap(refs / "ct001.nii.gz", ref, grid)
    prediction = write_labelmap(tmp_path / "ct001.nii.gz", pred, grid)
    assert main(["score", str(prediction), str(refs)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert str(refs) in err and str(prediction) in err and "folder of predictions" in err and "DICOM" not in err
