"""What a NRRD file is follows its content, not only its name: a labelmap saved as ``.seg.nrrd`` is scored by its
labels, and a Slicer segmentation saved as ``.seg.nhdr``, ``.nrrd`` or ``.nhdr`` by its named segments.

Before, a labelmap named ``.seg.nrrd`` (no Segment fields) was read as a segmentation with no segments: nothing
was scored, the reference's labels were listed as "only in the reference (not scored)" and the exit code was 0;
and a Slicer segmentation with two layers saved as ``.nrrd`` or ``.seg.nhdr`` was refused as a 4-D labelmap.
Files are written with SimpleITK and pynrrd (``test_score.write_seg_nrrd``: Slicer's fields).
"""

from __future__ import annotations

import nrrd
import numpy as np
import pytest

from SDSegLogic.cli_score import score_files
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io.label_files import read_label_volume
from SDSegLogic.overlap_metrics import segment_scores
from test_score import write_labelmap, write_seg_nrrd


@pytest.fixture()
def grid():
    direction = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, -1]])
    return ImageGeometry((0.9, 1.4, 2.5), (3.0, -7.0, 11.0), direction, (9, 8, 6))


@pytest.fixture()
def labels(grid):
    pred = np.zeros(grid.array_shape, np.uint8)
    pred[1:4, 1:5, 2:7] = 1
    pred[3:6, 4:8, 1:4] = 3
    ref = np.zeros_like(pred)
    ref[1:5, 1:5, 2:6] = 1
    ref[3:6, 5:8, 1:4] = 3
    return pred, ref


@pytest.mark.parametrize("writer", ["SimpleITK", "pynrrd"])
def test_a_plain_labelmap_named_seg_nrrd_is_scored_by_label(tmp_path, grid, labels, writer):
    pred, ref = labels
    path = tmp_path / "ct001.seg.nrrd"
    if writer == "SimpleITK":
        write_labelmap(path, pred, grid, dtype=np.uint8)
    else:
        header = {"space": "left-posterior-superior", "space origin": np.asarray(grid.origin),
                  "space directions": (grid.direction_matrix * np.asarray(grid.spacing)).T}
        nrrd.write(str(path), np.transpose(pred, (2, 1, 0)), header, index_order="F")
    volume = read_label_volume(path)
    assert [s.value for s in volume.segments] == [1, 3] and not volume.named
    reference = write_labelmap(tmp_path / "ref.nii.gz", ref, grid)
    report = score_files(str(path), str(reference))
    expected = [segment_scores(pred == v, ref == v, grid.spacing)["dice"] for v in (1, 3)]
    assert [r["dice"] for r in report["segments"]] == pytest.approx(expected)
    assert report["reference_only"] == [] and report["prediction_only"] == []


def test_a_slicer_seg_nrrd_keeps_its_segment_names(tmp_path, grid, labels):
    """The Segment fields still make a segmentation: names and values as the header gives them."""
    pred, _ = labels
    path = write_seg_nrrd(tmp_path / "ct001.seg.nrrd", pred[None], grid, [("liver", 1, 0), ("spleen", 3, 0)])
    volume = read_label_volume(path)
    assert [(s.name, s.value) for s in volume.segments] == [("liver", 1), ("spleen", 3)] and volume.named


@pytest.mark.parametrize("name", ["ct001.seg.nhdr", "ct001.nrrd", "ct001.nhdr"])
def test_a_slicer_segmentation_saved_under_another_nrrd_ending_keeps_names_and_layers(tmp_path, grid, labels, name):
    """Slicer also saves a segmentation as .seg.nhdr, .nrrd and .nhdr: overlapping segments in two layers, read by
    name (before: refused as 'a labelmap with several frames')."""
    pred, ref = labels
    layers = np.stack([pred, (pred == 1).astype(np.uint8)])  # "tumor" overlaps "liver" in a second layer
    segments = [("liver", 1, 0), ("spleen", 3, 0), ("tumor", 1, 1)]
    attached = write_seg_nrrd(tmp_path / "source.seg.nrrd", layers, grid, segments)
    data, header = nrrd.read(str(attached))
    path = tmp_path / name
    nrrd.write(str(path), data, header, detached_header=name.endswith(".nhdr"))
    volume = read_label_volume(path)
    assert [(s.name, s.value, s.layer) for s in volume.segments] == segments and volume.named
    reference = write_seg_nrrd(tmp_path / "ref.seg.nrrd", np.stack([ref, (ref == 1).astype(np.uint8)]), grid, segments)
    rows = {r["prediction_segment"]: r["dice"] for r in score_files(str(path), str(reference))["segments"]}
    assert rows == pytest.approx({"liver": segment_scores(pred == 1, ref == 1, grid.spacing)["dice"],
                                  "spleen": segment_scores(pred == 3, ref == 3, grid.spacing)["dice"],
                                  "tumor": segment_scores(pred == 1, ref == 1, grid.spacing)["dice"]})
