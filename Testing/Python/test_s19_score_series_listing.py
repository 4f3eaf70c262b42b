"""``sdseg score`` tells a DICOM series folder from a folder of cases with the reader's own series listing.

Before, the folder was classified by reading every header with pydicom, a second way of listing series beside
the reader's (GDCM, :func:`SDSegLogic.io._dicom.list_series`, as :mod:`SDSegLogic.io.dicom_sources` uses): a label
series exported with a dose report beside its slices (a DICOM file that is no image, in a series of its own) was
"several DICOM series" there, so the case was skipped and ``sdseg score SERIES/ ref.nrrd`` was a usage error,
while the reader reads that folder as the one series it is. The series are written with pydicom
(``io_test_helpers.write_dicom_series``), the SEG as ``test_score_pairing.write_dicom_seg`` does, the other
files with SimpleITK.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.cli_score_batch import is_dicom_series_folder, series_folder_problem
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.overlap_metrics import segment_scores
from dicom_label_helpers import grid  # noqa: F401 - a pytest fixture
from io_test_helpers import write_dicom_series
from test_score import write_labelmap
from test_score_pairing import write_dicom_seg

_UID = "1.2.826.0.1.3680043.2.1125.19"


@pytest.fixture()
def labels(grid):
    """(prediction, reference) (K, J, I) int16: one organ, the prediction a slice shorter."""
    ref = np.zeros(grid.array_shape, np.int16)
    ref[0:4, 1:4, 1:5] = 1
    pred = ref.copy()
    pred[3] = 0
    return pred, ref


def _series(folder: Path, labels: np.ndarray, grid: ImageGeometry, uid: str) -> Path:
    pytest.importorskip("pydicom")
    folder.mkdir(parents=True, exist_ok=True)
    write_dicom_series(folder, labels.astype(np.float64), grid, series_uid=uid, intercept=0.0)
    return folder


def _dose_report(folder: Path) -> Path:
    """A radiation dose structured report (no pixels, a series of its own), as PACS exports put beside slices."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.67"  # X-Ray Radiation Dose SR
    meta.MediaStorageSOPInstanceUID = f"{_UID}.900.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = folder / "dose_report.dcm"
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = "1.2.826.0.1.3680043.2.1125.99", f"{_UID}.900", "SR"
    ds.save_as(str(path), enforce_file_format=True)
    return path


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_series_with_a_dose_report_beside_it_is_one_series_as_the_reader_reads_it(tmp_path, grid, labels):
    pred, ref = labels
    series = _series(tmp_path / "pred", pred, grid, f"{_UID}.1")
    _dose_report(series)
    assert series_folder_problem(series) is None and is_dicom_series_folder(series)
    reference = write_labelmap(tmp_path / "ref.nrrd", ref, grid)
    out = tmp_path / "scores.json"
    with pytest.warns(UserWarning, match="dose_report.dcm"):  # the reader leaves the report out, with a note
        assert main(["score", str(series), str(reference), "-o", str(out)]) == EXIT_OK
    report = _json(out)
    assert [r["dice"] for r in report["segments"]] == [segment_scores(pred == 1, ref == 1, grid.spacing)["dice"]]
    assert any("dose_report.dcm" in text for text in report["warnings"])  # the reader's note, in the report


def test_folder_mode_pairs_such_a_series_folder_as_its_case(tmp_path, grid, labels):
    pred, ref = labels
    results, refs = tmp_path / "results", tmp_path / "labels"
    results.mkdir()
    write_labelmap(results / "ct001.seg.nii.gz", pred, grid)
    _dose_report(_series(refs / "ct001", ref, grid, f"{_UID}.2"))
    out = tmp_path / "set.json"
    with pytest.warns(UserWarning, match="dose_report.dcm"):
        assert main(["score", str(results), str(refs), "-o", str(out)]) == EXIT_OK
    report = _json(out)
    assert report["skipped"] == [] and [c["case"] for c in report["cases"]] == ["ct001"]
    assert report["cases"][0]["reference"] == str(refs / "ct001")
    assert report["cases"][0]["mean_dice"] == segment_scores(pred == 1, ref == 1, grid.spacing)["dice"]


def test_subfolders_that_are_not_one_series_are_skipped_with_the_reason(tmp_path, grid, labels, capsys):
    """Two series, a case in another format, a DICOM SEG (named as one, or IM0001 as PACS name files), nothing:
    each skipped, naming why; the series case scored."""
    pred, ref = labels
    results, refs = tmp_path / "results", tmp_path / "labels"
    results.mkdir()
    for case in ("ct001", "ct002", "ct003", "ct004", "ct005", "ct006"):
        write_labelmap(results / f"{case}.nrrd", pred, grid)
    _series(refs / "ct001", ref, grid, f"{_UID}.3")
    two = _series(refs / "ct002", ref, grid, f"{_UID}.4")
    write_dicom_series(two, ref.astype(np.float64), grid, series_uid=f"{_UID}.5", intercept=0.0, prefix="other")
    mixed = _series(refs / "ct003", ref, grid, f"{_UID}.6")
    write_labelmap(mixed / "ct003.nii.gz", ref, grid)
    (refs / "ct004").mkdir()
    write_dicom_seg(refs / "ct004" / "ct004.seg.dcm", grid, [ref == 1], ["liver"], [1])
    (refs / "ct006").mkdir()
    write_dicom_seg(refs / "ct006" / "IM0001", grid, [ref == 1], ["liver"], [1])
    (refs / "ct005").mkdir()
    (refs / "ct005" / "notes.txt").write_text("no images here\n", encoding="utf-8")
    out = tmp_path / "set.json"
    assert main(["score", str(results), str(refs), "-o", str(out)]) == EXIT_OK
    report = _json(out)
    assert [c["case"] for c in report["cases"]] == ["ct001"]
    reasons = {Path(entry["path"]).name: entry["reason"] for entry in report["skipped"]}
    assert sorted(reasons) == ["ct002", "ct003", "ct004", "ct005", "ct006"]
    assert "several DICOM series" in reasons["ct002"] and f"{_UID}.4" in reasons["ct002"] and f"{_UID}.5" in reasons["ct002"]
    assert "ct003.nii.gz, a file that is not DICOM" in reasons["ct003"]
    assert "DICOM SEG ct004.seg.dcm" in reasons["ct004"] and "DICOM SEG IM0001" in reasons["ct006"]
    assert "no DICOM image" in reasons["ct005"]
    text = capsys.readouterr().out
    assert all(f"skipped {refs / name}:" in text for name in reasons)

