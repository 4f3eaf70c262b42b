"""``sdseg score`` on test sets: distance units of mixed folders, one reading per case, the readers' endings.

* A folder of pictures (PNG masks: distances in pixels) and volumes (NRRD: distances in mm) must not average
  pixels with millimetres under an "mm" heading.
* A case whose labelmap reference lacks a label other references hold (an empty target) is read once, and
  scored as :func:`~SDSegLogic.cli_score.score_files` scores it given the test set's labels.
* A case is any file the readers take by its ending (:data:`SDSegLogic.io.sniff.FORMATS`): a DICOM SEG saved
  as ``.dicom`` is scored as a file pair and as a case alike.

Masks are written with Pillow and SimpleITK; DICOM SEGs with pydicom (:func:`test_score_pairing.write_dicom_seg`).
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

import SDSegLogic.cli_score as cli_score
from SDSegLogic.cli import main
from SDSegLogic.cli_score import score_files
from SDSegLogic.cli_score_batch import score_folders
from SDSegLogic.geometry import ImageGeometry


def _write_volume(path, labels: np.ndarray, spacing=(0.5, 0.5, 2.0)) -> None:
    image = sitk.GetImageFromArray(labels.astype(np.uint8))
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))


@pytest.fixture()
def mixed_folders(tmp_path):
    """A photo case (PNG, shifted 4 pixels) and a CT case (NRRD of 0.5 mm pixels, shifted 2 voxels = 1 mm)."""
    preds, refs = tmp_path / "pred", tmp_path / "ref"
    preds.mkdir()
    refs.mkdir()
    photo = np.zeros((64, 80), np.uint8)
    photo[16:48, 20:60] = 1
    Image.fromarray(photo).save(refs / "photo.png")
    Image.fromarray(np.roll(photo, 4, axis=1)).save(preds / "photo.png")
    ct = np.zeros((4, 20, 20), np.uint8)
    ct[1:3, 5:15, 5:15] = 1
    _write_volume(refs / "ct.nrrd", ct)
    _write_volume(preds / "ct.nrrd", np.roll(ct, 2, axis=2))
    return preds, refs


def test_a_folder_mixing_pictures_and_volumes_does_not_average_pixels_with_mm(mixed_folders, capsys):
    preds, refs = mixed_folders
    report = score_folders(preds, refs)
    units = {case["case"]: case["grid"]["unit"] for case in report["cases"]}
    assert units == {"photo": "pixel", "ct": "mm"}
    hd95 = {case["case"]: case["segments"][0]["hd95_mm"] for case in report["cases"]}
    assert hd95["photo"] == pytest.approx(4.0) and hd95["ct"] == pytest.approx(1.0)  # each case in its own unit
    row = report["summary"]["label 1"]
    assert row["hd95_median_mm"] is None and row["assd_mean_mm"] is None  # 2.5 "mm" was the median of 4 px and 1 mm
    assert row["distance_unit"] == "mixed"
    assert row["cases"] == 2 and row["dice_mean"] is not None  # Dice has no unit: still summarised
    out = preds.parent / "scores.csv"
    assert main(["score", str(preds), str(refs), "-o", str(out)]) == 0
    table = capsys.readouterr().out
    header = next(line for line in table.splitlines() if line.startswith("segment"))
    assert "mm" not in header and "px" not in header
    line = next(line for line in table.splitlines() if line.startswith("label 1"))
    assert "2.50" not in line and line.split()[-1] == "mixed"
    assert "pixels and mm do not average" in table
    import csv

    rows = {row["case"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    assert {case: row["unit"] for case, row in rows.items()} == {"photo": "pixel", "ct": "mm"}  # each its own


@pytest.mark.parametrize("left_out, unit, hd95", [("ct.nrrd", "pixel", 4.0), ("photo.png", "mm", 1.0)])
def test_folders_of_one_unit_keep_their_distance_summary(mixed_folders, left_out, unit, hd95):
    preds, refs = mixed_folders
    for folder in (preds, refs):
        (folder / left_out).unlink()
    row = score_folders(preds, refs)["summary"]["label 1"]
    assert row["distance_unit"] == unit and row["hd95_median_mm"] == pytest.approx(hd95)


@pytest.fixture()
def absent_class_folders(tmp_path):
    """CT labelmaps: label 2 absent from the references of ct2 (a false positive) and ct3 (both empty)."""
    shape = (6, 20, 24)
    liver = np.zeros(shape, np.uint8)
    liver[1:5, 4:14, 4:16] = 1
    with_gb = liver.copy()
    with_gb[2:4, 15:18, 18:21] = 2
    cases = {"ct1": (with_gb, with_gb), "ct2": (with_gb, liver), "ct3": (liver, liver)}
    preds, refs = tmp_path / "pred", tmp_path / "ref"
    preds.mkdir()
    refs.mkdir()
    for name, (pred, truth) in cases.items():
        _write_volume(preds / f"{name}.nrrd", pred, (0.8, 0.8, 2.0))
        _write_volume(refs / f"{name}.nii.gz", truth, (0.8, 0.8, 2.0))
    return preds, refs


def test_empty_targets_are_scored_from_one_reading_of_each_file(absent_class_folders, monkeypatch):
    preds, refs = absent_class_folders
    reads = []
    real = cli_score.read_label_volume

    def counted(path, *args, **kwargs):
        reads.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(cli_score, "read_label_volume", counted)  # the real reader, each call listed
    report = score_folders(preds, refs)
    assert sorted(reads) == sorted(str(p) for folder in (preds, refs) for p in folder.iterdir())  # each file once
    assert all("error" not in case for case in report["cases"])
    ct2 = next(case for case in report["cases"] if case["case"] == "ct2")
    assert [row["dice"] for row in ct2["segments"]] == [pytest.approx(1.0), 0.0]  # liver hit, gallbladder miss


def test_empty_target_rows_equal_those_of_scoring_the_pair_with_the_test_set_labels(absent_class_folders):
    preds, refs = absent_class_folders
    report = score_folders(preds, refs)
    for case in report["cases"]:
        direct = score_files(case["prediction"], case["reference"], annotated=[1, 2])
        assert {"case": case["case"], **direct} == case


def test_a_dicom_seg_saved_as_dicom_is_a_case_as_it_is_a_file(tmp_path):
    """The readers take ``.dicom`` (:data:`SDSegLogic.io.sniff.FORMATS`); the folder pairing did not."""
    from test_score import write_labelmap
    from test_score_pairing import write_dicom_seg

    grid = ImageGeometry((0.8, 0.8, 2.0), (0.0, 0.0, 0.0), np.eye(3), (10, 9, 4))
    labels = np.zeros(grid.array_shape, np.uint8)
    labels[1:3, 2:6, 3:8] = 1
    preds, refs = tmp_path / "pred", tmp_path / "ref"
    preds.mkdir()
    refs.mkdir()
    write_dicom_seg(preds / "ct001.dicom", grid, [labels == 1], ["liver"], [1])
    write_labelmap(refs / "ct001.nrrd", labels, grid)
    one = score_files(str(preds / "ct001.dicom"), str(refs / "ct001.nrrd"))
    assert one["segments"][0]["dice"] == pytest.approx(1.0)
    report = score_folders(preds, refs)
    assert [case["case"] for case in report["cases"]] == ["ct001"]
    assert report["cases"][0]["segments"] == one["segments"]


def test_empty_targets_of_seg_nrrd_predictions_equal_those_of_scoring_the_pair(tmp_path):
    """Named predictions (.seg.nrrd, one layer) against labelmaps: a segment of a value the reference lacks is
    scored against an empty target; a value the prediction lacks has no segment to score."""
    from test_score import write_labelmap, write_seg_nrrd

    grid = ImageGeometry((0.8, 0.8, 2.0), (0.0, 0.0, 0.0), np.eye(3), (24, 20, 6))
    liver = np.zeros(grid.array_shape, np.uint8)
    liver[1:5, 4:14, 4:16] = 1
    with_gb = liver.copy()
    with_gb[2:4, 15:18, 18:21] = 2
    cases = {"ct1": (with_gb, with_gb), "ct2": (with_gb, liver), "ct3": (liver, liver)}
    preds, refs = tmp_path / "pred", tmp_path / "ref"
    preds.mkdir()
    refs.mkdir()
    for name, (pred, truth) in cases.items():
        segments = [("liver", 1, 0)] + ([("gallbladder", 2, 0)] if (pred == 2).any() else [])
        write_seg_nrrd(preds / f"{name}.seg.nrrd", pred[None], grid, segments)
        write_labelmap(refs / f"{name}.nrrd", truth, grid)
    report = score_folders(preds, refs)
    for case in report["cases"]:
        direct = score_files(case["prediction"], case["reference"], annotated=[1, 2])
        assert {"case": case["case"], **direct} == case
    ct2 = next(case for case in report["cases"] if case["case"] == "ct2")
    assert [row["prediction_segment"] for row in ct2["segments"]] == ["liver", "gallbladder"]
    assert ct2["segments"][1]["dice"] == 0.0 and ct2["prediction_only"] == []
