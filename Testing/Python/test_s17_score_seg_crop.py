"""``sdseg score``: a DICOM SEG against a ``.seg.nrrd`` that Slicer cropped to its segments' extent.

A SEG has no grid of its own and is placed on the other file's grid; when that file is a crop of the
image grid, the SEG's pixels reach beyond it. On the same lattice both are scored on one grid, exactly
as the uncropped file would be; on another lattice the refusal names both files and both grids.
Files are written with pydicom and pynrrd (the writers of ``test_score_pairing`` and ``test_score``).
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.cli_score import score_files
from SDSegLogic.errors import GeometryError
from SDSegLogic.geometry import ImageGeometry
from test_s17_score_inputs import labels  # noqa: F401 - pytest fixture: liver and spleen drawn on this grid
from test_score import write_labelmap, write_seg_nrrd
from test_score_pairing import write_dicom_seg


@pytest.fixture()
def grid():
    direction = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, -1]])  # not LPS-aligned, to catch index order slips
    return ImageGeometry((0.8, 1.3, 2.5), (5.0, -3.0, 40.0), direction, (12, 11, 9))


def _crop(grid: ImageGeometry, layers: np.ndarray):
    """``layers`` (L, K, J, I) cropped to the box of their non-zero voxels, and that box's grid (as Slicer saves)."""
    k, j, i = (np.flatnonzero(layers.any(axis=tuple(a for a in range(4) if a != axis))) for axis in (1, 2, 3))
    box = layers[:, k[0]:k[-1] + 1, j[0]:j[-1] + 1, i[0]:i[-1] + 1]
    origin = grid.index_to_world(np.array([i[0], j[0], k[0]], dtype=np.float64))
    return box, ImageGeometry(grid.spacing, tuple(origin), grid.direction_matrix, box.shape[1:][::-1])


def _scores(report):
    return [(r["prediction_segment"], r["reference_segment"], r["dice"], r["hd_mm"], r["voxels_prediction"],
             r["voxels_reference"]) for r in report["segments"]]


def test_a_dicom_seg_is_scored_against_a_cropped_seg_nrrd_as_against_the_whole_one(tmp_path, grid, labels):
    seg = write_dicom_seg(tmp_path / "ref.seg.dcm", grid, [labels == 1, labels == 2], ["liver", "spleen"], [1, 2])
    predicted = labels.copy()
    predicted[3:7, 3:8, 2:9][predicted[3:7, 3:8, 2:9] == 0] = 1  # a liver that spills over, and no spleen
    predicted[predicted == 2] = 0
    whole = write_seg_nrrd(tmp_path / "whole.seg.nrrd", predicted[None], grid, [("liver", 1, 0)])
    box, cropped_grid = _crop(grid, predicted[None])
    assert cropped_grid.shape != grid.shape
    cropped = write_seg_nrrd(tmp_path / "cropped.seg.nrrd", box, cropped_grid, [("liver", 1, 0)])
    for forward in (True, False):
        pair = (whole, seg) if forward else (seg, whole)
        expected = score_files(*map(str, pair))
        got = score_files(*map(str, (cropped, seg) if forward else (seg, cropped)))
        assert _scores(got) == _scores(expected) and got["segments"][0]["dice"] < 1.0
        assert (got["prediction_only"], got["reference_only"]) == (expected["prediction_only"], expected["reference_only"])


def test_a_dicom_seg_reaching_beyond_a_cropped_labelmap_keeps_every_segment(tmp_path, grid, labels):
    """By value against a labelmap: the spleen, outside the crop, is a miss (Dice 0), not an error."""
    seg = write_dicom_seg(tmp_path / "pred.seg.dcm", grid, [labels == 1, labels == 2], ["liver", "spleen"], [1, 2])
    liver = (labels == 1).astype(np.uint8)
    box, cropped_grid = _crop(grid, liver[None])
    reference = write_labelmap(tmp_path / "ref.nrrd", box[0], cropped_grid)
    report = score_files(str(seg), str(reference))
    assert [(r["prediction_segment"], r["dice"]) for r in report["segments"]] == [("liver", 1.0)]
    assert report["prediction_only"] == ["spleen"]


def test_a_dicom_seg_on_another_lattice_is_refused_naming_both_grids(tmp_path, grid, labels):
    other = ImageGeometry((0.7, 1.3, 2.5), grid.origin, grid.direction_matrix, grid.shape)  # another pixel spacing
    seg = write_dicom_seg(tmp_path / "pred.seg.dcm", other, [labels == 1], ["liver"], [1])
    box, cropped_grid = _crop(grid, (labels == 1)[None].astype(np.uint8))
    reference = write_seg_nrrd(tmp_path / "ref.seg.nrrd", box, cropped_grid, [("liver", 1, 0)])
    with pytest.raises(GeometryError) as caught:
        score_files(str(seg), str(reference))
    text = str(caught.value)
    assert str(seg) in text and str(reference) in text
    assert "pixel spacing 1.3 x 0.7 mm" in text  # the SEG's frames
    assert " x ".join(map(str, cropped_grid.shape)) + " voxels of 0.8 x 1.3 x 2.5 mm" in text  # the other grid
    assert "score against the image the SEG was drawn on" in text
