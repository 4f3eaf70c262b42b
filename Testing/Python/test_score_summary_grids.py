"""``sdseg score``: a test-set summary that counts each comparison once and says how many cases its
distances cover, and a refusal of another grid that tells both grids apart.

Files are written with the independent writers of ``test_score`` (SimpleITK, pynrrd).
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, UsageError, main
from SDSegLogic.cli_score import score_files
from SDSegLogic.cli_score_batch import batch_text, score_folders
from SDSegLogic.errors import GeometryError
from SDSegLogic.geometry import ImageGeometry, plan_reorientation
from test_score import write_labelmap


@pytest.fixture()
def grid():
    return ImageGeometry((0.8, 1.1, 2.0), (5.0, -3.0, 40.0), np.eye(3), (12, 11, 9))


@pytest.fixture()
def labels(grid):
    out = np.zeros(grid.array_shape, np.uint8)
    out[2:5, 2:6, 3:7] = 1
    out[6:8, 7:10, 7:10] = 2
    return out


@pytest.fixture()
def folders(tmp_path):
    results, refs = tmp_path / "results", tmp_path / "labels"
    results.mkdir(), refs.mkdir()
    return results, refs


# ---------------------------------------------------------------------- one comparison counts once
def test_the_same_pair_given_twice_is_refused_not_counted_twice(tmp_path, grid, labels, folders):
    results, refs = folders
    write_labelmap(results / "a.nii.gz", labels, grid), write_labelmap(refs / "a.nii.gz", labels, grid)
    for pairs in (["1=1", "1=1"], ["1=1", " 1 = 1 "]):
        with pytest.raises(UsageError, match=r"--pair: .*1=1.* twice"):
            score_files(str(results / "a.nii.gz"), str(refs / "a.nii.gz"), pairs)
        with pytest.raises(UsageError, match="twice"):
            score_folders(results, refs, pairs)
    # joined segments in another order are the same comparison
    with pytest.raises(UsageError, match="twice"):
        score_files(str(results / "a.nii.gz"), str(refs / "a.nii.gz"), ["1+2=1+2", "2+1=2+1"])


def test_one_prediction_segment_against_two_references_gives_two_summary_rows(grid, labels, folders):
    """``--pair 1=1 --pair 1=2``: two comparisons of one case, each counted once, not one segment with 2 cases."""
    results, refs = folders
    write_labelmap(results / "a.nii.gz", labels, grid), write_labelmap(refs / "a.nii.gz", labels, grid)
    report = score_folders(results, refs, ["1=1", "1=2"])
    assert {row["cases"] for row in report["summary"].values()} == {1} and len(report["summary"]) == 2
    dice = sorted(row["dice_mean"] for row in report["summary"].values())
    assert dice == [0.0, 1.0]


# ---------------------------------------------------------------------- distances: how many cases the median covers
def test_the_summary_table_shows_how_many_cases_have_distances(grid, labels, folders, capsys):
    """Case b misses label 2 (no HD95): its median HD95 comes from one case of two, and the table says so."""
    results, refs = folders
    write_labelmap(results / "a.nii.gz", labels, grid), write_labelmap(refs / "a.nii.gz", labels, grid)
    write_labelmap(results / "b.nii.gz", np.where(labels == 2, 0, labels), grid)
    write_labelmap(refs / "b.nii.gz", labels, grid)
    report = score_folders(results, refs)
    assert report["summary"]["label 2"]["cases_with_distances"] == 1
    assert main(["score", str(results), str(refs)]) == EXIT_OK
    table = capsys.readouterr().out
    assert table == batch_text(report)
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("segment "))
    column = header.index("HD95 n") + len("HD95 n")  # right-aligned under its header
    rows = {line.split()[0] + " " + line.split()[1]: line for line in lines if line.startswith("label ")}
    assert rows["label 2"][:column].split()[-1] == "1/2" and rows["label 1"][:column].split()[-1] == "2/2"


# ---------------------------------------------------------------------- another grid: both grids and the remedy
def test_another_grid_is_refused_naming_both_files_both_grids_and_the_remedy(tmp_path, grid, labels):
    pred = write_labelmap(tmp_path / "pred.nrrd", labels, grid)
    coarse = ImageGeometry((0.8, 1.1, 2.5), grid.origin, grid.direction_matrix, grid.shape)
    ref = write_labelmap(tmp_path / "ref.nii.gz", labels, coarse)
    with pytest.raises(GeometryError) as err:
        score_files(str(pred), str(ref))
    text = str(err.value)
    assert str(pred) in text and str(ref) in text
    for geometry in (grid, coarse):  # each grid in full: voxels and spacing
        assert " x ".join(str(n) for n in geometry.shape) + " voxels of " in text
        assert " x ".join(f"{s:g}" for s in geometry.spacing) + " mm" in text
    assert "spacing" in text and "nearest-neighbour" in text
    assert "onto the reference image" not in text  # the remedy resamples the reference onto the prediction
    # a reference stored in another axis order is described as stored
    plan = plan_reorientation(coarse, "RAI")
    turned = write_labelmap(tmp_path / "turned.nrrd", np.ascontiguousarray(plan.apply(labels)), plan.target)
    with pytest.raises(GeometryError) as err:
        score_files(str(pred), str(turned))
    assert " x ".join(f"{s:g}" for s in plan.target.spacing) + " mm" in str(err.value)
