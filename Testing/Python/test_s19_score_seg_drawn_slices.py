"""A DICOM SEG drawn on a series of thicker slices is scored on its own slices, not with background between.

Before, a SEG whose frames lie on one slice in N of the grid it is scored on was placed as it is, with a
warning: the slices between its frames counted as background, so a SEG drawn on a 5 mm series and scored against
a 2.5 mm reconstruction of the same acquisition, matching it on every slice it was drawn on, scored Dice 0.6,
and its volume half the reference's. A SEG that states its slice spacing (SpacingBetweenSlices or SliceThickness,
as dcmqi and highdicom copy them from the source series) N times the grid's is now scored on its slices only, as
on the series it was drawn on; one that does not state it keeps the former placement and warning. The SEGs are
written with pydicom (``test_score_pairing.write_dicom_seg``), the labelmaps with SimpleITK.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.cli_score import score_files
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.overlap_metrics import segment_scores
from test_score import write_labelmap
from test_score_pairing import write_dicom_seg


@pytest.fixture()
def grid():
    """A coronal grid (k runs along -y): the SEG's slices lie across the i, j, k axis ordered last."""
    direction = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
    return ImageGeometry((0.8, 1.3, 2.5), (-20.0, 15.5, 3.25), direction, (8, 7, 11))


@pytest.fixture()
def reference(grid):
    """(K, J, I) uint16: one organ through slices 1 to 9, growing along k (so every slice differs)."""
    out = np.zeros(grid.array_shape, np.uint16)
    for k in range(1, 10):
        out[k, 1:2 + k // 2, 2:7] = 1
    return out


def _seg(path: Path, grid: ImageGeometry, mask: np.ndarray, first: int, step: int,
         thickness: Optional[float] = None, between: Optional[float] = None) -> Path:
    """A SEG of ``mask`` with frames on slices ``first``, ``first + step``, ... only; the slice spacing it states."""
    pydicom = pytest.importorskip("pydicom")
    drawn = np.zeros_like(mask)
    drawn[first::step] = mask[first::step]
    write_dicom_seg(path, grid, [drawn], ["liver"], [1])
    ds = pydicom.dcmread(str(path))
    measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    if thickness is not None:
        measures.SliceThickness = thickness
    if between is not None:
        measures.SpacingBetweenSlices = between
    ds.save_as(str(path))
    return path


def _expected(prediction: np.ndarray, reference: np.ndarray, grid: ImageGeometry, first: int, step: int) -> dict:
    """The scores on slices ``first::step`` only, on a grid of ``step`` times the slice spacing."""
    spacing = (grid.spacing[0], grid.spacing[1], grid.spacing[2] * step)
    return segment_scores(prediction[first::step], reference[first::step], spacing)


def test_a_seg_drawn_on_thicker_slices_is_scored_on_its_slices(tmp_path, grid, reference):
    """The SEG matches the reference on each slice it was drawn on: Dice 1, and the same volume (before: 0.6)."""
    seg = _seg(tmp_path / "pred.seg.dcm", grid, reference == 1, first=1, step=2, thickness=5.0)
    ref = write_labelmap(tmp_path / "ref.nrrd", reference, grid)
    report = score_files(str(seg), str(ref))
    row = report["segments"][0]
    assert row["dice"] == 1.0 and row["hd95_mm"] == 0.0
    assert row["volume_prediction_ml"] == row["volume_reference_ml"]
    assert report["grid"]["spacing_mm"] == [0.8, 1.3, 5.0] and report["grid"]["shape_ijk"] == [8, 7, 5]
    assert np.allclose(report["grid"]["origin_lps_mm"], grid.index_to_world(np.array([0.0, 0.0, 1.0])))
    [warning] = report["warnings"]
    assert str(seg) in warning and "its slices only" in warning and "5 mm" in warning


def test_the_other_file_is_scored_on_the_seg_slices_too(tmp_path, grid, reference):
    """As the reference: a prediction off on the slices between is not judged there; off on a drawn slice, it is."""
    seg = _seg(tmp_path / "ref.seg.dcm", grid, reference == 1, first=2, step=3, between=7.5)
    prediction = reference.copy()
    prediction[3:5] = 0  # two slices between the SEG's slices 2, 5, 8
    prediction[8, 1:3] = 0  # a drawn slice
    pred = write_labelmap(tmp_path / "pred.nii.gz", prediction, grid)
    report = score_files(str(pred), str(seg))
    expected = _expected(prediction == 1, reference == 1, grid, 2, 3)
    row = report["segments"][0]
    for key in ("dice", "iou", "hd95_mm", "assd_mm", "hd_mm", "volume_prediction_ml", "volume_reference_ml"):
        assert row[key] == pytest.approx(expected[key]), key
    assert row["dice"] < 1.0
    assert report["grid"]["spacing_mm"][2] == pytest.approx(7.5) and report["grid"]["shape_ijk"][2] == 3


def test_without_a_stated_slice_spacing_the_slices_between_stay_background(tmp_path, grid, reference):
    """Drawn on every second slice of this very series (or no spacing stated): placed as it is, with the warning."""
    ref = write_labelmap(tmp_path / "ref.nrrd", reference, grid)
    for name, thickness in (("none.seg.dcm", None), ("same.seg.dcm", 2.5)):
        seg = _seg(tmp_path / name, grid, reference == 1, first=1, step=2, thickness=thickness)
        report = score_files(str(seg), str(ref))
        drawn = np.zeros_like(reference)
        drawn[1::2] = reference[1::2]
        assert report["segments"][0]["dice"] == segment_scores(drawn == 1, reference == 1, grid.spacing)["dice"] < 0.8
        assert report["grid"]["shape_ijk"] == list(grid.shape)
        [warning] = report["warnings"]
        assert "count as background" in warning and "states that thicker slice spacing" in warning


def test_a_test_set_scores_such_a_case_on_its_slices(tmp_path, grid, reference, capsys):
    preds, refs = tmp_path / "preds", tmp_path / "refs"
    preds.mkdir()
    refs.mkdir()
    _seg(preds / "ct001.seg.dcm", grid, reference == 1, first=1, step=2, thickness=5.0)
    write_labelmap(refs / "ct001.nrrd", reference, grid)
    out = tmp_path / "set.json"
    assert main(["score", str(preds), str(refs), "-o", str(out)]) == EXIT_OK
    case = json.loads(out.read_text(encoding="utf-8"))["cases"][0]
    assert case["mean_dice"] == 1.0 and "its slices only" in case["warnings"][0]
    assert "its slices only" in capsys.readouterr().out


def test_a_seg_referencing_every_slice_of_the_grid_keeps_the_slices_between(tmp_path, grid, reference):
    """Thick slices at half their thickness apart (5 mm every 2.5 mm): SliceThickness states 5 mm, but a SEG that
    references as many source instances as the grid has slices was drawn on this grid, and is placed as it is."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    seg = _seg(tmp_path / "pred.seg.dcm", grid, reference == 1, first=1, step=2, thickness=5.0)
    ds = pydicom.dcmread(str(seg))
    series = Dataset()
    series.SeriesInstanceUID = "1.2.826.0.1.3680043.2.1125.19.50"
    series.ReferencedInstanceSequence = Sequence([Dataset() for _ in range(grid.shape[2])])
    for k, item in enumerate(series.ReferencedInstanceSequence):
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", f"{series.SeriesInstanceUID}.{k}"
    ds.ReferencedSeriesSequence = Sequence([series])
    ds.save_as(str(seg))
    ref = write_labelmap(tmp_path / "ref.nrrd", reference, grid)
    report = score_files(str(seg), str(ref))
    assert report["grid"]["shape_ijk"] == list(grid.shape) and report["segments"][0]["dice"] < 0.8
    assert "count as background" in report["warnings"][0]


def test_against_a_cropped_reference_the_seg_slices_beyond_its_extent_count(tmp_path, grid, reference):
    """The reference covers slices 2 to 8 only (a crop); the SEG also has frames on slices 1 and 9, beyond it."""
    pytest.importorskip("pydicom")
    truth = reference.copy()
    truth[[1, 9]] = 0  # the reference's organ lies within its crop
    prediction = reference == 1  # on slices 1 and 9 too: false positives there
    seg = _seg(tmp_path / "pred.seg.dcm", grid, prediction, first=1, step=2, thickness=5.0)
    crop = ImageGeometry(grid.spacing, tuple(grid.index_to_world(np.array([0.0, 0.0, 2.0]))), grid.direction_matrix,
                         (grid.shape[0], grid.shape[1], 7))
    ref = write_labelmap(tmp_path / "ref.nrrd", truth[2:9], crop)
    report = score_files(str(seg), str(ref))
    drawn = np.zeros_like(prediction)
    drawn[1::2] = prediction[1::2]
    expected = _expected(drawn, truth == 1, grid, 1, 2)
    row = report["segments"][0]
    for key in ("dice", "hd95_mm", "assd_mm", "volume_prediction_ml", "volume_reference_ml"):
        assert row[key] == pytest.approx(expected[key]), key
    assert report["grid"]["shape_ijk"][2] == 5 and row["dice"] < 1.0
