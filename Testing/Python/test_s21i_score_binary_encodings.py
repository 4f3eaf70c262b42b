"""``sdseg score`` on a test set of binary masks saved as 0/1 in some cases and 0/255 in others.

1 and 255 are then one structure in two encodings: no case may gain an "empty in both" row (Dice 1) for the other
value, which would inflate that value's mean Dice; a warning names the cases of each encoding. A real multi-class
test set keeps the convention that a label absent from both files of a case scores 1.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from SDSegLogic.cli import main
from SDSegLogic.cli_score_batch import score_folders


def square(top: int, left: int, size: int) -> np.ndarray:
    mask = np.zeros((32, 40), bool)
    mask[top:top + size, left:left + size] = True
    return mask


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else 2.0 * np.logical_and(pred, truth).sum() / total


def write_cases(tmp_path, cases):
    """``cases``: name -> (prediction mask, reference mask, prediction value, reference value); PNG files."""
    preds, refs = tmp_path / "pred", tmp_path / "ref"
    preds.mkdir()
    refs.mkdir()
    for name, (pred, truth, pred_value, ref_value) in cases.items():
        Image.fromarray((pred * pred_value).astype(np.uint8)).save(preds / f"{name}.png")
        Image.fromarray((truth * ref_value).astype(np.uint8)).save(refs / f"{name}.png")
    return preds, refs


def test_mixed_0_1_and_0_255_references_gain_no_free_empty_rows(tmp_path, capsys):
    cases = {"a": (square(8, 8, 12), square(10, 9, 12), 1, 1),
             "b": (square(4, 4, 10), square(5, 6, 10), 255, 255),
             "c": (square(2, 2, 6), np.zeros((32, 40), bool), 255, 1)}  # an empty reference, a false positive
    preds, refs = write_cases(tmp_path, cases)
    report = score_folders(preds, refs)
    rows = {case["case"]: case["segments"] for case in report["cases"]}
    assert [r["reference_values"] for r in rows["a"]] == [[1]]
    assert [r["reference_values"] for r in rows["b"]] == [[255]]
    assert [(r["prediction_values"], r["dice"]) for r in rows["c"]] == [([255], 0.0)]  # the false positive, once
    expected = {name: dice(pred, truth) for name, (pred, truth, _, _) in cases.items()}
    assert report["summary"]["label 1"]["dice_mean"] == pytest.approx(expected["a"])
    assert report["summary"]["label 255"]["dice_mean"] == pytest.approx(np.mean([expected["b"], expected["c"]]))
    assert report["mean_dice"] == pytest.approx(np.mean(list(expected.values())))
    warning = [w for w in report["cases"][0]["warnings"] if "two encodings" in w]
    assert len(warning) == 1 and "case a" in warning[0] and "case b" in warning[0]
    assert main(["score", str(preds), str(refs)]) == 0
    out = capsys.readouterr().out
    assert "warning, cases a, b, c: the references are binary masks in two encodings" in out


def test_a_both_empty_case_scores_once_in_the_encoding_most_references_use(tmp_path):
    empty = np.zeros((32, 40), bool)
    cases = {"a": (square(8, 8, 12), square(10, 9, 12), 255, 255),
             "b": (square(4, 4, 10), square(5, 6, 10), 255, 255),
             "c": (square(4, 4, 10), square(5, 6, 10), 1, 1),
             "d": (empty, empty, 1, 1)}
    report = score_folders(*write_cases(tmp_path, cases))
    rows = {case["case"]: case["segments"] for case in report["cases"]}
    assert [(r["reference_values"], r["dice"]) for r in rows["d"]] == [([255], 1.0)]


def test_a_multi_class_test_set_keeps_the_empty_in_both_convention(tmp_path):
    """Labels 1 and 255 together in one reference are two classes: a case lacking one scores it 1 when both lack it."""
    both = square(8, 8, 12).astype(np.uint8) + square(20, 20, 6).astype(np.uint8) * 255
    preds, refs = tmp_path / "pred", tmp_path / "ref"
    preds.mkdir()
    refs.mkdir()
    for folder in (preds, refs):
        Image.fromarray(both).save(folder / "a.png")
        Image.fromarray(square(4, 4, 10).astype(np.uint8)).save(folder / "b.png")
    report = score_folders(preds, refs)
    rows = {case["case"]: case["segments"] for case in report["cases"]}
    assert sorted((r["reference_values"][0], r["dice"]) for r in rows["b"]) == [(1, 1.0), (255, 1.0)]
    assert not any("two encodings" in w for case in report["cases"] for w in case["warnings"])


def test_one_pair_in_two_encodings_says_why_it_scores_zero_and_how_to_pair(tmp_path, capsys):
    mask = square(5, 5, 10)
    Image.fromarray(mask.astype(np.uint8)).save(tmp_path / "pred.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "ref.png")
    assert main(["score", str(tmp_path / "pred.png"), str(tmp_path / "ref.png")]) == 0
    out = capsys.readouterr().out
    assert "foreground 1 (0/1)" in out and "foreground 255 (0/255)" in out and "--pair 1=255" in out
    assert main(["score", str(tmp_path / "pred.png"), str(tmp_path / "ref.png"), "--pair", "1=255", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mean_dice"] == 1.0 and not any("two encodings" in w for w in report["warnings"])


def test_one_pair_in_one_encoding_has_no_encoding_warning(tmp_path, capsys):
    for name, mask in (("pred.png", square(5, 5, 10)), ("ref.png", square(6, 5, 10))):
        Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / name)
    assert main(["score", str(tmp_path / "pred.png"), str(tmp_path / "ref.png")]) == 0
    assert "two encodings" not in capsys.readouterr().out
