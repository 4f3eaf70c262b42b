"""``sdseg score PREDICTIONS/ REFERENCES/`` pairs Slicer's ``<name>-label.nrrd`` and names that differ in case only.

Labelmaps are written with SimpleITK (as Slicer's ITK writers store them) under the names users' folders
hold: Slicer saves a labelmap volume node as ``<volume>-label.nrrd``, and a folder copied from a
case-insensitive file system (Windows, macOS) may hold ``CT001.seg.nrrd`` beside references ``ct001.nrrd``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, EXIT_USAGE, UsageError, main
from SDSegLogic.cli_score_batch import pair_cases, score_folders
from SDSegLogic.geometry import ImageGeometry
from test_score import write_labelmap


@pytest.fixture()
def grid():
    return ImageGeometry((0.9, 1.2, 2.0), (4.0, -6.0, 10.0), np.eye(3), (8, 7, 5))


@pytest.fixture()
def labels(grid):
    out = np.zeros(grid.array_shape, np.int16)
    out[1:4, 2:5, 2:6] = 1
    out[2:5, 4:7, 1:3] = 2
    return out


def _folders(tmp_path: Path):
    preds, refs = tmp_path / "preds", tmp_path / "refs"
    preds.mkdir()
    refs.mkdir()
    return preds, refs


def _write_all(folder: Path, names, labels: np.ndarray, grid: ImageGeometry) -> None:
    """``labels`` on ``grid`` written under each of ``names`` in ``folder``, in that order."""
    for name in names:
        write_labelmap(folder / name, labels, grid)


def test_a_slicer_label_file_pairs_with_its_case(tmp_path, grid, labels, capsys):
    """``ct001-label.nrrd`` (Slicer's name for the labelmap of volume ct001) is the reference of ``ct001.seg.nrrd``."""
    preds, refs = _folders(tmp_path)
    _write_all(preds, ["ct001.nii.gz", "ct002.nii.gz"], labels, grid)
    _write_all(refs, ["ct001-label.nrrd", "ct002.nrrd"], labels, grid)
    pairs, pred_only, ref_only = pair_cases(preds, refs)
    assert [(case, p.name, r.name) for case, p, r in pairs] == [
        ("ct001", "ct001.nii.gz", "ct001-label.nrrd"), ("ct002", "ct002.nii.gz", "ct002.nrrd")]
    assert (pred_only, ref_only) == ([], [])
    report = score_folders(preds, refs)
    assert [c["mean_dice"] for c in report["cases"]] == [1.0, 1.0]
    assert main(["score", str(preds), str(refs)]) == EXIT_OK
    assert "only in" not in capsys.readouterr().out


def test_a_scan_beside_its_slicer_label_file_is_refused_naming_both(tmp_path, grid, labels, capsys):
    """A folder Slicer saved a scene into holds ``ct001.nrrd`` (the scan) and ``ct001-label.nrrd``: two candidates
    for case ct001, refused naming both, never one picked silently."""
    preds, refs = _folders(tmp_path)
    write_labelmap(preds / "ct001.nii.gz", labels, grid)
    write_labelmap(refs / "ct001.nrrd", labels * 100, grid)
    write_labelmap(refs / "ct001-label.nrrd", labels, grid)
    with pytest.raises(UsageError) as caught:
        pair_cases(preds, refs)
    assert "ct001.nrrd" in str(caught.value) and "ct001-label.nrrd" in str(caught.value)
    assert main(["score", str(preds), str(refs)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "ct001.nrrd" in err and "ct001-label.nrrd" in err


def test_a_case_differing_only_in_letter_case_pairs_when_unique(tmp_path, grid, labels):
    """``CT001.seg.nrrd`` has no exact partner, and ``ct001.nrrd`` is its only case-insensitive one: they pair."""
    preds, refs = _folders(tmp_path)
    _write_all(preds, ["CT001.nii.gz", "ct002.nii.gz"], labels, grid)
    _write_all(refs, ["ct001.nrrd", "ct002.nrrd"], labels, grid)
    pairs, pred_only, ref_only = pair_cases(preds, refs)
    assert [(p.name, r.name) for _, p, r in pairs] == [("CT001.nii.gz", "ct001.nrrd"), ("ct002.nii.gz", "ct002.nrrd")]
    assert (pred_only, ref_only) == ([], [])
    assert [c["mean_dice"] for c in score_folders(preds, refs)["cases"]] == [1.0, 1.0]


def test_an_exact_case_match_wins_over_a_case_insensitive_one(tmp_path, grid, labels):
    """``ct001`` pairs with ``ct001``; the reference ``CT001`` (another case on a case-sensitive disk) stays unpaired."""
    preds, refs = _folders(tmp_path)
    write_labelmap(preds / "ct001.nii.gz", labels, grid)
    _write_all(refs, ["ct001.nrrd", "CT001.nrrd"], labels, grid)
    pairs, pred_only, ref_only = pair_cases(preds, refs)
    assert [(p.name, r.name) for _, p, r in pairs] == [("ct001.nii.gz", "ct001.nrrd")]
    assert (pred_only, ref_only) == ([], ["CT001"])


def test_case_insensitive_candidates_that_are_not_unique_are_refused_naming_them(tmp_path, grid, labels):
    """Predictions ``CT001`` and ``Ct001``, reference ``ct001``: which one is meant cannot be told; every file named."""
    preds, refs = _folders(tmp_path)
    _write_all(preds, ["CT001.nii.gz", "Ct001.nii.gz"], labels, grid)
    write_labelmap(refs / "ct001.nrrd", labels, grid)
    with pytest.raises(UsageError) as caught:
        pair_cases(preds, refs)
    assert all(name in str(caught.value) for name in ("CT001.nii.gz", "Ct001.nii.gz", "ct001.nrrd"))
