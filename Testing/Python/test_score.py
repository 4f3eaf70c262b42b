"""``sdseg score``: overlap and surface-distance scores, label files, grid alignment and pairing.

The metrics are checked against brute-force definitions computed here (every surface voxel
against every other, in mm), not against numbers copied from the implementation. Files are
written with pynrrd and SimpleITK directly, as Slicer and other tools would write them.
"""

from __future__ import annotations

import json
from pathlib import Path

import nrrd
import numpy as np
import pytest
import SimpleITK as sitk

from SDSegLogic.cli import EXIT_INPUT, EXIT_OK, EXIT_USAGE, UsageError, main
from SDSegLogic.cli_score import pair_segments, score_files
from SDSegLogic.errors import GeometryError, InputError
from SDSegLogic.geometry import ImageGeometry, plan_reorientation
from SDSegLogic.io.label_files import read_label_volume
from SDSegLogic.overlap_metrics import segment_scores, surface_voxels

SPACING = (0.8, 1.3, 2.5)  # mm along i, j, k


# ---------------------------------------------------------------------- brute-force references
def brute_surface(mask: np.ndarray) -> np.ndarray:
    """Foreground voxels with a face neighbour that is background or outside the image."""
    out = np.zeros_like(mask)
    K, J, I = mask.shape
    for k, j, i in np.argwhere(mask):
        for dk, dj, di in ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)):
            n = (k + dk, j + dj, i + di)
            if not (0 <= n[0] < K and 0 <= n[1] < J and 0 <= n[2] < I) or not mask[n]:
                out[k, j, i] = True
    return out


def brute_directed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    scale = np.array(SPACING[::-1])  # (k, j, i) mm
    pa, pb = np.argwhere(a) * scale, np.argwhere(b) * scale
    return np.sqrt(((pa[:, None, :] - pb[None]) ** 2).sum(-1)).min(1)


def blob(shape, centre, radii) -> np.ndarray:
    k, j, i = np.indices(shape)
    return ((k - centre[0]) / radii[0]) ** 2 + ((j - centre[1]) / radii[1]) ** 2 + ((i - centre[2]) / radii[2]) ** 2 <= 1


# ---------------------------------------------------------------------- file writers (independent of SDSeg's)
def write_seg_nrrd(path: Path, layers: np.ndarray, geometry: ImageGeometry, segments) -> Path:
    """A Slicer-style .seg.nrrd: (L, K, J, I) layers, segments = [(name, value, layer)]."""
    axes = geometry.direction_matrix * np.asarray(geometry.spacing)
    data = np.transpose(layers, (0, 3, 2, 1)).astype(np.uint8)  # -> Fortran (L, I, J, K)
    header = {"space": "left-posterior-superior", "space origin": np.asarray(geometry.origin)}
    if layers.shape[0] == 1:
        data = data[0]
        header.update({"kinds": ["domain"] * 3, "space directions": axes.T})
    else:
        header.update({"kinds": ["list", "domain", "domain", "domain"],
                       "space directions": np.vstack([np.full(3, np.nan), axes.T])})
    for n, (name, value, layer) in enumerate(segments):
        header.update({f"Segment{n}_ID": f"Segment_{n}", f"Segment{n}_Name": name, f"Segment{n}_LabelValue": str(value),
                       f"Segment{n}_Layer": str(layer), f"Segment{n}_Color": "0.5 0.5 0.5",
                       f"Segment{n}_Extent": "0 -1 0 -1 0 -1"})
    nrrd.write(str(path), data, header, index_order="F")
    return path


def write_labelmap(path: Path, labels: np.ndarray, geometry: ImageGeometry, dtype=np.int16) -> Path:
    """A labelmap written by SimpleITK (a .nii.gz is stored in RAS by ITK itself)."""
    image = sitk.GetImageFromArray(labels.astype(dtype))
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(tuple(geometry.direction_matrix.reshape(-1)))
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture()
def grid():
    direction = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # a coronal-like grid: j -> S, k -> -P
    return ImageGeometry(SPACING, (-20.0, 15.5, 3.25), direction, (14, 12, 10))


@pytest.fixture()
def volumes(grid):
    shape = grid.array_shape
    pred = np.zeros(shape, np.uint8)
    ref = np.zeros(shape, np.uint8)
    pred[blob(shape, (4, 5, 6), (3, 4, 4))] = 1
    ref[blob(shape, (5, 5, 7), (3, 3, 5))] = 1
    pred[blob(shape, (7, 9, 10), (2, 2, 3))] = 2
    ref[blob(shape, (7, 8, 9), (2, 2, 2))] = 2
    return pred, ref


# ---------------------------------------------------------------------- metrics
def test_surface_matches_the_definition_including_the_image_edge():
    rng = np.random.default_rng(4)
    for _ in range(5):
        mask = rng.random((6, 7, 5)) < 0.5
        np.testing.assert_array_equal(surface_voxels(mask), brute_surface(mask))


def test_scores_match_brute_force_distances_with_anisotropic_spacing():
    rng = np.random.default_rng(7)
    for trial in range(6):
        shape = (9, 11, 10)
        a = blob(shape, rng.uniform(2, 7, 3), rng.uniform(1.5, 4, 3))
        b = blob(shape, rng.uniform(2, 7, 3), rng.uniform(1.5, 4, 3)) | (rng.random(shape) < 0.01)
        scores = segment_scores(a, b, SPACING)
        sa, sb = brute_surface(a), brute_surface(b)
        ab, ba = brute_directed(sa, sb), brute_directed(sb, sa)
        assert scores["hd_mm"] == pytest.approx(max(ab.max(), ba.max()), abs=1e-4)
        assert scores["hd95_mm"] == pytest.approx(max(np.percentile(ab, 95), np.percentile(ba, 95)), abs=1e-4)
        assert scores["assd_mm"] == pytest.approx(np.concatenate([ab, ba]).mean(), abs=1e-4)
        inter = (a & b).sum()
        assert scores["dice"] == pytest.approx(2 * inter / (a.sum() + b.sum()))
        assert scores["iou"] == pytest.approx(inter / (a | b).sum())
        assert scores["volume_reference_ml"] == pytest.approx(b.sum() * np.prod(SPACING) / 1000)


def test_distances_equal_monai_metrics():
    """The documented convention is MONAI's: same HD, HD95 and symmetric ASSD on the same masks and spacing."""
    pytest.importorskip("scipy")  # MONAI's surface distances use scipy's distance transform
    import warnings

    import torch
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    rng = np.random.default_rng(1)
    spacing_kji = SPACING[::-1]
    for _ in range(4):
        a = blob((9, 11, 10), rng.uniform(2, 7, 3), rng.uniform(1.5, 4, 3))
        b = blob((9, 11, 10), rng.uniform(2, 7, 3), rng.uniform(1.5, 4, 3))
        ours = segment_scores(a, b, SPACING)
        pa, pb = (torch.from_numpy(m[None, None].astype(np.float32)) for m in (a, b))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hd95 = compute_hausdorff_distance(pa, pb, percentile=95, spacing=spacing_kji).item()
            hd = compute_hausdorff_distance(pa, pb, spacing=spacing_kji).item()
            assd = compute_average_surface_distance(pa, pb, symmetric=True, spacing=spacing_kji).item()
        assert (ours["hd95_mm"], ours["hd_mm"], ours["assd_mm"]) == pytest.approx((hd95, hd, assd), abs=1e-4)


def test_empty_masks_follow_the_documented_convention():
    empty, full = np.zeros((3, 4, 5), bool), np.ones((3, 4, 5), bool)
    both = segment_scores(empty, empty, SPACING)
    assert (both["dice"], both["iou"], both["hd95_mm"], both["distance_note"]) == (1.0, 1.0, None, "both empty")
    miss = segment_scores(empty, full, SPACING)
    assert (miss["dice"], miss["hd_mm"], miss["distance_note"]) == (0.0, None, "prediction empty")
    assert segment_scores(full, empty, SPACING)["distance_note"] == "reference empty"
    with pytest.raises(InputError, match="same grid"):
        segment_scores(full, full[:2], SPACING)


# ---------------------------------------------------------------------- files and grids
def test_seg_nrrd_against_a_reoriented_nifti_labelmap_scores_on_the_same_voxels(tmp_path, grid, volumes):
    pred, ref = volumes
    seg = write_seg_nrrd(tmp_path / "pred.seg.nrrd", pred[None], grid, [("liver", 1, 0), ("spleen", 2, 0)])
    plan = plan_reorientation(grid, "RAI")  # the same voxels stored in another axis order and direction
    assert not plan.is_identity
    nifti = write_labelmap(tmp_path / "ref.nii.gz", np.ascontiguousarray(plan.apply(ref)), plan.target)
    report = score_files(str(seg), str(nifti))
    assert [(r["prediction_segment"], r["reference_values"]) for r in report["segments"]] == [("liver", [1]), ("spleen", [2])]
    for row, value in zip(report["segments"], (1, 2)):
        expected = segment_scores(pred == value, ref == value, grid.spacing)
        assert row["dice"] == pytest.approx(expected["dice"]) and row["hd95_mm"] == pytest.approx(expected["hd95_mm"])
    assert report["mean_dice"] == pytest.approx(np.mean([r["dice"] for r in report["segments"]]))
    same = score_files(str(seg), str(write_labelmap(tmp_path / "pred.nrrd", pred, grid)))
    assert all(r["dice"] == 1.0 and r["hd_mm"] == 0.0 for r in same["segments"])


def test_reference_on_another_grid_is_refused_with_the_remedy(tmp_path, grid, volumes):
    pred, ref = volumes
    seg = write_seg_nrrd(tmp_path / "pred.seg.nrrd", pred[None], grid, [("liver", 1, 0)])
    moved = ImageGeometry(grid.spacing, tuple(np.add(grid.origin, (0.0, 0.0, 0.6))), grid.direction_matrix, grid.shape)
    other = write_labelmap(tmp_path / "moved.nrrd", ref, moved)
    with pytest.raises(GeometryError) as err:
        score_files(str(seg), str(other))
    assert "moved.nrrd" in str(err.value) and "origin" in str(err.value) and "nearest-neighbour" in str(err.value)


def test_overlapping_segments_in_layers_are_read_per_layer(tmp_path, grid, volumes):
    pred, ref = volumes
    layers = np.stack([(pred == 1).astype(np.uint8), (pred > 0).astype(np.uint8) * 3])  # layer 1 overlaps layer 0
    path = write_seg_nrrd(tmp_path / "layers.seg.nrrd", layers, grid, [("liver", 1, 0), ("organs", 3, 1)])
    volume = read_label_volume(path)
    assert [s.name for s in volume.segments] == ["liver", "organs"] and volume.geometry == grid
    np.testing.assert_array_equal(volume.mask(volume.segments[0]), pred == 1)
    np.testing.assert_array_equal(volume.mask(volume.segments[1]), pred > 0)


def test_a_probability_map_or_an_image_is_not_taken_for_labels(tmp_path, grid, volumes):
    soft = write_labelmap(tmp_path / "prob.nrrd", volumes[0] * 0.4, grid, dtype=np.float32)
    with pytest.raises(InputError, match=r"prob\.nrrd: value 0\.4 .* not an integer label"):
        read_label_volume(soft)
    with pytest.raises(InputError, match="no such file"):
        read_label_volume(tmp_path / "missing.nii.gz")


# ---------------------------------------------------------------------- pairing
def test_pairing_by_name_by_value_and_explicit_unions(tmp_path, grid, volumes):
    pred, ref = volumes
    seg = read_label_volume(write_seg_nrrd(tmp_path / "p.seg.nrrd", pred[None], grid, [("liver", 1, 0), ("lungs", 2, 0)]))
    named = read_label_volume(write_seg_nrrd(tmp_path / "r.seg.nrrd", ref[None], grid, [("Liver", 1, 0), ("left lung", 2, 0)]))
    pairs, pred_only, ref_only = pair_segments(seg, named)
    assert [(p[0].name, r[0].name) for p, r in pairs] == [("liver", "Liver")]
    assert (pred_only, ref_only) == (["lungs"], ["left lung"])
    labelmap = read_label_volume(write_labelmap(tmp_path / "r.nrrd", ref, grid))
    pairs, _, _ = pair_segments(seg, labelmap)  # auto: by value when one side has no names
    assert [(p[0].value, r[0].value) for p, r in pairs] == [(1, 1), (2, 2)]
    pairs, _, _ = pair_segments(seg, named, ["lungs=left lung+liver"])
    assert [s.name for s in pairs[0][1]] == ["left lung", "Liver"]
    report = score_files(str(seg.path), str(named.path), ["lungs=left lung+liver"])
    expected = segment_scores(pred == 2, ref > 0, grid.spacing)
    assert report["segments"][0]["dice"] == pytest.approx(expected["dice"])
    with pytest.raises(UsageError, match="no segment 'kidney'.*liver \\(1\\), lungs \\(2\\)"):
        pair_segments(seg, named, ["kidney=Liver"])
    with pytest.raises(UsageError, match="without segment names"):
        pair_segments(seg, labelmap, match="name")
    with pytest.raises(UsageError, match="expected PRED=REF"):
        pair_segments(seg, named, ["liver"])


# ---------------------------------------------------------------------- command line
def test_cli_prints_the_table_writes_the_report_and_refuses_bad_input(tmp_path, grid, volumes, capsys):
    pred, ref = volumes
    seg = write_seg_nrrd(tmp_path / "pred.seg.nrrd", pred[None], grid, [("liver", 1, 0), ("spleen", 2, 0)])
    lab = write_labelmap(tmp_path / "ref.nii.gz", ref, grid)
    report_path = tmp_path / "scores.json"
    assert main(["score", str(seg), str(lab), "-o", str(report_path)]) == EXIT_OK
    table = capsys.readouterr().out
    assert "liver = label 1" in table and "mean Dice" in table and "HD95 mm" in table
    written = json.loads(report_path.read_text())
    assert written["segments"][1]["dice"] == pytest.approx(segment_scores(pred == 2, ref == 2, grid.spacing)["dice"])
    assert main(["score", str(seg), str(lab), "--json", "-o", str(tmp_path / "scores.csv")]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["mean_dice"] == written["mean_dice"]
    assert (tmp_path / "scores.csv").read_text().splitlines()[0].startswith("prediction_segment,prediction_values")
    assert main(["score", str(seg), str(lab), "-o", str(tmp_path / "scores.txt")]) == EXIT_USAGE
    assert ".json or .csv" in capsys.readouterr().err
    image = write_labelmap(tmp_path / "ct.nrrd", ref.astype(np.int16) * 300 - 1000, grid)
    assert main(["score", str(seg), str(image)]) == EXIT_INPUT
    assert "negative label" in capsys.readouterr().err


# ---------------------------------------------------------------------- folders (a test set)
def test_folders_are_scored_case_by_case_with_a_summary(tmp_path, grid, volumes, capsys):
    """Cases pair by file name without the ending; a case on another grid is reported and the others go on."""
    import csv

    from SDSegLogic.cli_score_batch import case_name, score_folders

    pred, ref = volumes
    results, labels = tmp_path / "results", tmp_path / "labels"
    results.mkdir()
    labels.mkdir()
    names = [("liver", 1, 0), ("spleen", 2, 0)]
    write_seg_nrrd(results / "ct001.seg.nrrd", pred[None], grid, names)
    write_labelmap(labels / "ct001.nii.gz", ref, grid)
    write_seg_nrrd(results / "ct002.seg.nrrd", ref[None], grid, names)  # a perfect case
    write_labelmap(labels / "ct002.nrrd", ref, grid)
    moved = ImageGeometry(grid.spacing, tuple(np.add(grid.origin, 5.0)), grid.direction_matrix, grid.shape)
    write_seg_nrrd(results / "ct003.seg.nrrd", pred[None], grid, names)
    write_labelmap(labels / "ct003.nii.gz", ref, moved)  # another grid: this case fails
    write_seg_nrrd(results / "ct004.seg.nrrd", pred[None], grid, names)  # no reference
    (labels / "notes.txt").write_text("not a label file")
    assert [case_name(p) for p in sorted(results.iterdir())] == ["ct001", "ct002", "ct003", "ct004"]

    report = score_folders(results, labels)
    by_case = {c["case"]: c for c in report["cases"]}
    assert list(by_case) == ["ct001", "ct002", "ct003"] and report["prediction_only"] == ["ct004"]
    assert "not on the reference grid" in by_case["ct003"]["error"] and report["first_error_code"] == EXIT_INPUT
    expected = [segment_scores(pred == v, ref == v, grid.spacing)["dice"] for v in (1, 2)]
    assert [r["dice"] for r in by_case["ct001"]["segments"]] == pytest.approx(expected)
    assert all(r["dice"] == 1.0 for r in by_case["ct002"]["segments"])
    liver = report["summary"]["liver"]
    assert liver["cases"] == 2 and liver["dice_mean"] == pytest.approx((expected[0] + 1.0) / 2)
    assert report["mean_dice"] == pytest.approx((np.mean(expected) + 1.0) / 2)

    out = tmp_path / "test-set.csv"
    assert main(["score", str(results), str(labels), "-o", str(out)]) == EXIT_INPUT  # the failed case's code
    table = capsys.readouterr().out
    assert "ct003" in table and "error:" in table and "cases only in the predictions (not scored): ct004" in table
    rows = list(csv.DictReader(out.open()))
    assert [r["case"] for r in rows] == ["ct001", "ct001", "ct002", "ct002", "ct003"]
    assert rows[4]["distance_note"].startswith("error:")
    assert main(["score", str(results), str(labels / "ct001.nii.gz")]) == EXIT_USAGE
    assert "must be a folder of references" in capsys.readouterr().err
    (labels / "ct001.nrrd").write_bytes((labels / "ct002.nrrd").read_bytes())
    assert main(["score", str(results), str(labels)]) == EXIT_USAGE  # two files of case ct001
    assert "both case 'ct001'" in capsys.readouterr().err


def test_a_cropped_segmentation_is_placed_on_the_full_grid(tmp_path, grid, volumes):
    """Slicer's "crop to minimum extent": a sub-grid on the same lattice scores like the full file; off-lattice is refused."""
    pred, ref = volumes
    names = [("liver", 1, 0), ("spleen", 2, 0)]
    full_pred = write_seg_nrrd(tmp_path / "pred.seg.nrrd", pred[None], grid, names)
    full_ref = write_seg_nrrd(tmp_path / "ref.seg.nrrd", ref[None], grid, names)
    k, j, i = (np.nonzero(ref.any(axis=axes))[0] for axes in ((1, 2), (0, 2), (0, 1)))
    box = (slice(k[0], k[-1] + 1), slice(j[0], j[-1] + 1), slice(i[0], i[-1] + 1))
    corner = grid.index_to_world(np.array([i[0], j[0], k[0]], dtype=np.float64))
    cropped_grid = ImageGeometry(grid.spacing, tuple(corner), grid.direction_matrix, ref[box].shape[::-1])
    assert cropped_grid.shape != grid.shape
    cropped_ref = write_seg_nrrd(tmp_path / "ref-crop.seg.nrrd", ref[box][None], cropped_grid, names)
    expected = score_files(str(full_pred), str(full_ref))
    # the crop as reference, and as prediction (Dice and HD95 are symmetric): the scores of the full files
    for got in (score_files(str(full_pred), str(cropped_ref)), score_files(str(cropped_ref), str(full_pred))):
        assert got["grid"]["shape_ijk"] == list(grid.shape)
        for row, want in zip(got["segments"], expected["segments"]):
            assert row["dice"] == pytest.approx(want["dice"]) and row["hd95_mm"] == pytest.approx(want["hd95_mm"])
    cropped_pred = write_seg_nrrd(tmp_path / "pred-crop.seg.nrrd", pred[box][None], cropped_grid, names)
    clipped = np.zeros_like(pred)
    clipped[box] = pred[box]  # what the cropped prediction holds, on the full grid
    got = score_files(str(cropped_pred), str(full_ref))
    assert got["grid"]["shape_ijk"] == list(grid.shape)
    for row, value in zip(got["segments"], (1, 2)):
        assert row["dice"] == pytest.approx(segment_scores(clipped == value, ref == value, grid.spacing)["dice"])
    half = ImageGeometry(grid.spacing, tuple(np.add(corner, 0.4)), grid.direction_matrix, cropped_grid.shape)
    off = write_seg_nrrd(tmp_path / "ref-off.seg.nrrd", ref[box][None], half, names)
    with pytest.raises(GeometryError, match="or be a crop of it"):
        score_files(str(full_pred), str(off))
