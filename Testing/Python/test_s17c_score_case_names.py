"""``sdseg score PREDICTIONS/ REFERENCES/`` pairs the files ``sdseg segment`` really writes with references by case.

Every file here is written by SDSeg's own writers through ``sdseg segment`` with a real tiny model (folder
mode with each ``--format``, the probability maps and previews in the same folder, as the CLI's help
example does; one file named ``ct001.seg.nii.gz``), so the names are the ones a user's folders hold.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_segment_fixtures import crop, isolated_home, run, tiny_folder  # noqa: F401 - pytest fixtures

from SDSegLogic.cli import EXIT_OK, UsageError
from SDSegLogic.cli_score_batch import score_folders

CASES = ("ct001", "ct002")


@pytest.fixture(scope="module")
def scans(tmp_path_factory, crop) -> Path:  # noqa: F811 - the fixture imported above
    """Two small CT scans, ``ct001.nii.gz`` and ``ct002.nrrd``."""
    sitk = pytest.importorskip("SimpleITK")
    folder = tmp_path_factory.mktemp("scans")
    image = sitk.ReadImage(str(crop))[:, :, :2]
    sitk.WriteImage(image, str(folder / "ct001.nii.gz"), True)
    sitk.WriteImage(image, str(folder / "ct002.nrrd"), True)
    return folder


def segment_folder(scans: Path, out: Path, fmt: str, model: Path, capsys, extras: bool = True) -> Path:
    """``sdseg segment ct001.nii.gz ct002.nrrd -o OUT/ --format FMT`` (with the probability maps and previews
    written into OUT/ too when ``extras``); returns OUT."""
    argv = ["segment", scans / "ct001.nii.gz", scans / "ct002.nrrd", "-o", f"{out}/", "--format", fmt,
            "--model", model, "--quiet"]
    if extras:
        argv += ["--prob-map", f"{out}/", "--preview", f"{out}/"]
    code, _, err = run(argv, capsys)
    assert code == EXIT_OK, err
    return out


@pytest.mark.parametrize("pred_format, ref_format", [("seg.nrrd", "nii.gz"), ("nii.gz", "seg.nrrd"),
                                                     ("mha", "nrrd"), ("nii", "seg.nrrd")])
def test_results_folders_of_sdseg_segment_pair_case_by_case(tmp_path, scans, tiny_folder, capsys,  # noqa: F811
                                                            pred_format, ref_format):
    """Both folders as ``sdseg segment ... -o DIR/ --prob-map DIR/ --preview DIR/`` leaves them: the cases are
    ct001 and ct002 only, all scored; the probability maps and previews are not cases that fail to read."""
    preds = segment_folder(scans, tmp_path / "preds", pred_format, tiny_folder, capsys)
    refs = segment_folder(scans, tmp_path / "refs", ref_format, tiny_folder, capsys)
    assert any(p.name.endswith(".prob.nrrd") for p in preds.iterdir())  # the folder really holds them
    report = score_folders(preds, refs)
    assert [c["case"] for c in report["cases"]] == list(CASES)
    assert all("error" not in c and c["mean_dice"] == 1.0 for c in report["cases"])
    assert report["prediction_only"] == [] and report["reference_only"] == []
    assert report["first_error_code"] == 0
    code, out, err = run(["score", preds, refs], capsys)
    assert code == EXIT_OK, out + err
    assert ".prob" not in out and ".preview" not in out


def test_side_outputs_are_not_listed_as_unpaired_cases(tmp_path, scans, tiny_folder, capsys):  # noqa: F811
    """Predictions with their probability maps and previews, references without: nothing is 'only in the
    predictions'."""
    preds = segment_folder(scans, tmp_path / "preds", "seg.nrrd", tiny_folder, capsys)
    refs = segment_folder(scans, tmp_path / "refs", "nii.gz", tiny_folder, capsys, extras=False)
    report = score_folders(preds, refs)
    assert report["prediction_only"] == []
    assert [c["case"] for c in report["cases"]] == list(CASES)


def test_a_seg_marked_labelmap_pairs_with_the_reference_named_like_the_scan(tmp_path, scans, tiny_folder,  # noqa: F811
                                                                            capsys):
    """``ct001.seg.nii.gz`` (sdseg segment -o preds/ct001.seg.nii.gz) is case ct001, as ``ct001.seg.nrrd`` is."""
    preds, refs = tmp_path / "preds", tmp_path / "refs"
    preds.mkdir()
    for case in CASES:
        scan = next(scans.glob(f"{case}.*"))
        code, _, err = run(["segment", scan, "-o", preds / f"{case}.seg.nii.gz", "--model", tiny_folder, "--quiet"],
                           capsys)
        assert code == EXIT_OK, err
    segment_folder(scans, refs, "nrrd", tiny_folder, capsys, extras=False)
    report = score_folders(preds, refs)
    assert [(c["case"], Path(c["prediction"]).name, Path(c["reference"]).name) for c in report["cases"]] == [
        ("ct001", "ct001.seg.nii.gz", "ct001.nrrd"), ("ct002", "ct002.seg.nii.gz", "ct002.nrrd")]
    assert report["mean_dice"] == 1.0


def test_two_segmentations_of_one_case_in_a_folder_are_refused(tmp_path, scans, tiny_folder, capsys):  # noqa: F811
    """``ct001.nii.gz`` and ``ct001.seg.nii.gz`` side by side: which one to score is not guessed; the error names
    both files."""
    preds = segment_folder(scans, tmp_path / "preds", "nii.gz", tiny_folder, capsys, extras=False)
    refs = segment_folder(scans, tmp_path / "refs", "nii.gz", tiny_folder, capsys, extras=False)
    shutil.copyfile(preds / "ct001.nii.gz", preds / "ct001.seg.nii.gz")
    with pytest.raises(UsageError, match=r"ct001\.nii\.gz and ct001\.seg\.nii\.gz are both case 'ct001'"):
        score_folders(preds, refs)
