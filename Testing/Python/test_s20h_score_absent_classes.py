"""``sdseg score`` on a test set where a class is absent from some references (an empty target).

The method spec's convention (and training's :mod:`sdseg_training.metrics`): per image or volume and per
class, both masks empty scores 1 and a false positive on an empty target scores 0 (the original's
``dice_score`` had these backwards). A labelmap holds only the labels it found, so a class that the test
set's references annotate (it is in some reference) but that one case's reference lacks is an empty
target there, not an unannotated class: its false positive is a miss, and its absence in both files a hit.
The expected numbers are computed here with numpy from the masks, case by case.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from SDSegLogic.cli import main
from SDSegLogic.cli_score import score_files
from SDSegLogic.cli_score_batch import score_folders


def convention_dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """The spec's Dice of two bool masks: both empty 1, one empty 0."""
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else 2.0 * np.logical_and(pred, truth).sum() / total


def square(shape, top, left, size) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top:top + size, left:left + size] = True
    return mask


@pytest.fixture()
def polyp_folders(tmp_path):
    """Binary PNG masks of four images: a hit, a false positive on an empty target, both empty, a miss."""
    shape = (32, 40)
    cases = {
        "img_001": (square(shape, 8, 8, 12), square(shape, 10, 9, 12)),
        "img_002": (square(shape, 4, 20, 6), np.zeros(shape, bool)),  # false positive, nothing to find
        "img_003": (np.zeros(shape, bool), np.zeros(shape, bool)),  # correctly nothing
        "img_004": (np.zeros(shape, bool), square(shape, 12, 12, 8)),  # a missed polyp
    }
    preds, refs = tmp_path / "pred", tmp_path / "ref"
    preds.mkdir()
    refs.mkdir()
    for name, (pred, truth) in cases.items():
        Image.fromarray(pred.astype(np.uint8)).save(preds / f"{name}.png")
        Image.fromarray(truth.astype(np.uint8)).save(refs / f"{name}.png")
    return preds, refs, cases


def test_a_false_positive_on_an_empty_target_counts_as_a_miss_in_the_test_set(polyp_folders):
    preds, refs, cases = polyp_folders
    report = score_folders(preds, refs)
    dice = {case["case"]: [row["dice"] for row in case["segments"]] for case in report["cases"]}
    expected = {name: convention_dice(*masks) for name, masks in cases.items()}
    assert dice == {name: [pytest.approx(value)] for name, value in expected.items()}
    summary = report["summary"]["label 1"]
    assert summary["cases"] == 4
    assert summary["dice_mean"] == pytest.approx(np.mean(list(expected.values())))
    assert report["mean_dice"] == pytest.approx(np.mean(list(expected.values())))
    assert summary["cases_with_distances"] == 1  # only img_001 has both masks non-empty
    fp = next(case for case in report["cases"] if case["case"] == "img_002")["segments"][0]
    assert fp["distance_note"] == "reference empty" and fp["voxels_prediction"] == cases["img_002"][0].sum()


def test_the_csv_has_a_row_per_case_and_the_training_metric_agrees(polyp_folders, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    pytest.importorskip("monai")
    from sdseg_training.metrics import dice_iou

    preds, refs, cases = polyp_folders
    out = tmp_path / "scores.csv"
    assert main(["score", str(preds), str(refs), "-o", str(out)]) == 0
    capsys.readouterr()
    rows = {row["case"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    names = sorted(cases)
    pred = torch.from_numpy(np.stack([cases[n][0] for n in names]))
    truth = torch.from_numpy(np.stack([cases[n][1] for n in names]))
    training_dice, training_iou = dice_iou(pred, truth)
    assert [float(rows[n]["dice"]) for n in names] == pytest.approx(training_dice.tolist())
    assert [float(rows[n]["iou"]) for n in names] == pytest.approx(training_iou.tolist())


def test_a_class_no_reference_annotates_is_still_not_scored(tmp_path):
    """The rule is the test set's: a label no reference holds stays unannotated (listed, not scored)."""
    shape = (16, 16)
    preds, refs = tmp_path / "pred", tmp_path / "ref"
    preds.mkdir()
    refs.mkdir()
    for name in ("a", "b"):
        pred = square(shape, 2, 2, 6).astype(np.uint8)
        pred[12:14, 12:14] = 7  # a class the references never annotate
        Image.fromarray(pred).save(preds / f"{name}.png")
        Image.fromarray(square(shape, 2, 3, 6).astype(np.uint8)).save(refs / f"{name}.png")
    report = score_folders(preds, refs)
    assert list(report["summary"]) == ["label 1"]
    assert all(case["prediction_only"] == ["label 7"] for case in report["cases"])


def test_one_file_pair_keeps_its_rule(polyp_folders):
    """Without a test set to tell an annotated class, one pair lists the prediction's extra label, as documented."""
    preds, refs, _ = polyp_folders
    report = score_files(str(preds / "img_002.png"), str(refs / "img_002.png"))
    assert report["segments"] == [] and report["prediction_only"] == ["label 1"]
    assert json.loads(json.dumps(report))["mean_dice"] is None


def test_an_organ_absent_from_one_ct_is_scored_there_per_class(tmp_path):
    """Multi-class CT labelmaps (NRRD, 2 x 0.8 x 0.8 mm): the gallbladder (2) absent from one patient's reference."""
    import SimpleITK as sitk

    def write(path, labels):
        image = sitk.GetImageFromArray(labels.astype(np.uint8))
        image.SetSpacing((0.8, 0.8, 2.0))
        sitk.WriteImage(image, str(path))

    shape = (6, 20, 24)
    liver = np.zeros(shape, np.uint8)
    liver[1:5, 4:14, 4:16] = 1
    with_gb = liver.copy()
    with_gb[2:4, 15:18, 18:21] = 2
    # (prediction, reference): a hit, a false positive, both empty
    cases = {"ct1": (with_gb, with_gb), "ct2": (with_gb, liver), "ct3": (liver, liver)}
    preds, refs = tmp_path / "pred", tmp_path / "ref"
    preds.mkdir()
    refs.mkdir()
    for name, (pred, truth) in cases.items():
        write(preds / f"{name}.nrrd", pred)
        write(refs / f"{name}.nii.gz", truth)
    report = score_folders(preds, refs)
    for value in (1, 2):
        expected = [convention_dice(p == value, t == value) for p, t in cases.values()]
        row = report["summary"][f"label {value}"]
        assert row["cases"] == 3 and row["dice_mean"] == pytest.approx(np.mean(expected))
    ct2 = next(case for case in report["cases"] if case["case"] == "ct2")
    ct2_expected = [convention_dice(cases["ct2"][0] == value, cases["ct2"][1] == value) for value in (1, 2)]
    assert ct2["prediction_only"] == [] and ct2["mean_dice"] == pytest.approx(np.mean(ct2_expected))
    assert [row["dice"] for row in ct2["segments"]] == pytest.approx(ct2_expected)  # the liver hit, the gallbladder miss
