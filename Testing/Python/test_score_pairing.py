"""``sdseg score``: pairing segments of labelmaps, DICOM SEGs and ``.seg.nrrd`` files, per file and per test set.

DICOM SEGs are written here with pydicom directly (one frame per non-empty slice and segment, as
exporters do), not with SDSeg's own writer; labelmaps and ``.seg.nrrd`` files with the independent
writers of ``test_score``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, EXIT_USAGE, UsageError, main
from SDSegLogic.cli_score import pair_segments, score_files
from SDSegLogic.cli_score_batch import score_folders
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io.label_files import read_label_volume
from SDSegLogic.overlap_metrics import segment_scores
from test_score import blob, write_labelmap, write_seg_nrrd

SPACING = (0.8, 1.3, 2.5)
SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


@pytest.fixture()
def grid():
    direction = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
    return ImageGeometry(SPACING, (-20.0, 15.5, 3.25), direction, (14, 12, 10))


@pytest.fixture()
def labels(grid):
    shape = grid.array_shape
    out = np.zeros(shape, np.uint16)
    out[blob(shape, (4, 5, 6), (3, 4, 4))] = 1
    out[blob(shape, (7, 9, 10), (2, 2, 3))] = 2
    return out


def write_dicom_seg(path: Path, geometry: ImageGeometry, masks, names, numbers) -> Path:
    """A BINARY DICOM SEG (8-bit frames) of (K, J, I) masks on ``geometry``: one frame per non-empty slice."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = SEG_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Modality, ds.SegmentationType = "SEG", "BINARY"
    K, J, I = geometry.array_shape
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = J, I, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.SegmentSequence = Sequence([Dataset() for _ in names])
    for item, name, number in zip(ds.SegmentSequence, names, numbers):
        item.SegmentNumber, item.SegmentLabel = number, name
    axes = geometry.direction_matrix
    orientation, measures, shared = Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = [float(v) for v in (*axes[:, 0], *axes[:, 1])]
    measures.PixelSpacing = [float(geometry.spacing[1]), float(geometry.spacing[0])]
    shared.PlaneOrientationSequence, shared.PixelMeasuresSequence = Sequence([orientation]), Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames, pixels = [], []
    for mask, number in zip(masks, numbers):
        for k in np.nonzero(mask.any(axis=(1, 2)))[0]:
            frame, ident, position = Dataset(), Dataset(), Dataset()
            ident.ReferencedSegmentNumber = number
            position.ImagePositionPatient = [float(v) for v in geometry.index_to_world(np.array([0.0, 0.0, k]))]
            frame.SegmentIdentificationSequence, frame.PlanePositionSequence = Sequence([ident]), Sequence([position])
            frames.append(frame)
            pixels.append(mask[k].astype(np.uint8))
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.NumberOfFrames = len(frames)
    ds.PixelData = np.stack(pixels).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    assert pydicom.dcmread(str(path)).pixel_array.shape == (len(frames), J, I)
    return path


# ---------------------------------------------------------------------- DICOM SEG
def test_a_dicom_seg_pairs_every_segment_with_a_labelmap_by_value(tmp_path, grid, labels):
    """Each SEG segment sits in a layer; pairing by value must not require the labelmap's layer to match."""
    seg = write_dicom_seg(tmp_path / "pred.seg.dcm", grid, [labels == 1, labels == 2], ["liver", "spleen"], [1, 2])
    ref = write_labelmap(tmp_path / "ref.nrrd", labels, grid)
    report = score_files(str(seg), str(ref))
    assert [(r["prediction_segment"], r["reference_segment"], r["dice"]) for r in report["segments"]] == [
        ("liver", "label 1", 1.0), ("spleen", "label 2", 1.0)]
    assert (report["prediction_only"], report["reference_only"]) == ([], [])


def test_a_dicom_seg_with_segment_numbers_above_255_is_read(tmp_path, grid, labels):
    """SegmentNumber is a 16-bit value (TotalSegmentator-size SEGs, or numbering with gaps)."""
    big = np.where(labels == 2, 300, labels)
    seg = write_dicom_seg(tmp_path / "pred.seg.dcm", grid, [big == 1, big == 300], ["liver", "spleen"], [1, 300])
    ref = write_labelmap(tmp_path / "ref.nrrd", big, grid)
    rows = score_files(str(seg), str(ref))["segments"]
    assert [(r["reference_values"], r["dice"], r["voxels_prediction"]) for r in rows] == [
        ([1], 1.0, int((big == 1).sum())), ([300], 1.0, int((big == 300).sum()))]


def test_dicom_seg_segments_share_layers_unless_they_overlap(tmp_path, grid, labels):
    """Memory: disjoint segments go into one volume, not one full volume per segment; overlaps stay exact."""
    disjoint = [labels == 1, labels == 2, np.zeros_like(labels, bool)]  # the third segment is empty
    volume = read_label_volume(write_dicom_seg(tmp_path / "a.seg.dcm", grid, disjoint, ["a", "b", "c"], [1, 2, 3]),
                               grid=grid)
    assert volume.layers.shape == (1, *grid.array_shape)
    for segment, mask in zip(volume.segments, disjoint):
        np.testing.assert_array_equal(volume.mask(segment), mask)
    overlapping = [labels == 1, labels > 0, labels == 2]  # "organs" overlaps both others
    volume = read_label_volume(write_dicom_seg(tmp_path / "b.seg.dcm", grid, overlapping, ["a", "organs", "b"],
                                               [1, 2, 3]), grid=grid)
    assert volume.layers.shape[0] == 2
    for segment, mask in zip(volume.segments, overlapping):
        np.testing.assert_array_equal(volume.mask(segment), mask)


# ---------------------------------------------------------------------- labelmaps: an absent value is an empty segment
def test_a_class_a_labelmap_prediction_missed_entirely_counts_as_a_miss(tmp_path, grid, labels):
    """A labelmap holds only the values it found: a reference organ the prediction lacks scores Dice 0, not 'unpaired'."""
    missed = np.where(labels == 2, 0, labels)
    pred = write_labelmap(tmp_path / "pred.nii.gz", missed, grid)
    report = score_files(str(pred), str(write_labelmap(tmp_path / "ref.nii.gz", labels, grid)))
    rows = {r["reference_segment"]: r for r in report["segments"]}
    assert rows["label 2"]["dice"] == 0.0 and rows["label 2"]["distance_note"] == "prediction empty"
    assert report["reference_only"] == [] and report["mean_dice"] == pytest.approx(0.5)
    # a test set: the summary counts the missed case instead of dropping it
    results, refs = tmp_path / "results", tmp_path / "labels"
    results.mkdir(), refs.mkdir()
    write_labelmap(results / "a.nii.gz", labels, grid), write_labelmap(refs / "a.nii.gz", labels, grid)
    write_labelmap(results / "b.nii.gz", missed, grid), write_labelmap(refs / "b.nii.gz", labels, grid)
    summary = score_folders(results, refs)["summary"]["label 2"]
    assert (summary["cases"], summary["dice_mean"]) == (2, pytest.approx(0.5))


def test_a_pair_whose_value_one_case_lacks_does_not_stop_the_test_set(tmp_path, grid, labels, capsys):
    results, refs = tmp_path / "results", tmp_path / "labels"
    results.mkdir(), refs.mkdir()
    names = [("liver", 1, 0), ("spleen", 2, 0)]
    for case in ("a", "b"):
        write_seg_nrrd(results / f"{case}.seg.nrrd", labels[None], grid, names)
    write_labelmap(refs / "a.nii.gz", labels, grid)
    write_labelmap(refs / "b.nii.gz", np.where(labels == 2, 0, labels), grid)  # no spleen in case b's labelmap
    out = tmp_path / "scores.csv"
    assert main(["score", str(results), str(refs), "--pair", "liver=1", "--pair", "spleen=2", "-o", str(out)]) == EXIT_OK
    report = score_folders(results, refs, ["liver=1", "spleen=2"])
    spleen_b = report["cases"][1]["segments"][1]
    assert (spleen_b["dice"], spleen_b["distance_note"]) == (0.0, "reference empty")
    assert report["summary"]["spleen"]["cases"] == 2 and out.read_text().count("\nb,") == 2
    capsys.readouterr()
    assert main(["score", str(results), str(refs), "--pair", "livr=1"]) == EXIT_USAGE  # a typo: said once
    assert "no segment 'livr'" in capsys.readouterr().err


def test_a_pair_naming_a_segment_one_seg_nrrd_lacks_fails_that_case_only(tmp_path, grid, labels):
    results, refs = tmp_path / "results", tmp_path / "labels"
    results.mkdir(), refs.mkdir()
    for case in ("a", "b"):
        write_seg_nrrd(results / f"{case}.seg.nrrd", labels[None], grid, [("liver", 1, 0), ("spleen", 2, 0)])
    write_seg_nrrd(refs / "a.seg.nrrd", labels[None], grid, [("Liver", 1, 0), ("Spleen", 2, 0)])
    write_seg_nrrd(refs / "b.seg.nrrd", np.where(labels == 2, 0, labels)[None], grid, [("Liver", 1, 0)])
    report = score_folders(results, refs, ["spleen=Spleen"])
    assert report["cases"][0]["segments"][0]["dice"] == 1.0
    assert "no segment 'Spleen'" in report["cases"][1]["error"] and report["first_error_code"] == EXIT_USAGE


# ---------------------------------------------------------------------- duplicate names
def test_two_segments_with_one_name_are_refused_not_silently_dropped(tmp_path, grid, labels):
    """Slicer allows two segments with the same name; pairing by name would score one and lose the other."""
    pred = read_label_volume(write_seg_nrrd(tmp_path / "p.seg.nrrd", labels[None], grid, [("liver", 1, 0), ("spleen", 2, 0)]))
    ref = read_label_volume(write_seg_nrrd(tmp_path / "r.seg.nrrd", labels[None], grid, [("liver", 1, 0), ("Liver", 2, 0)]))
    with pytest.raises(UsageError, match=r"two segments named 'Liver' \(label values 1 and 2\).*--pair"):
        pair_segments(pred, ref)
    with pytest.raises(UsageError, match="2 segments named 'liver'.*pair by label value"):
        pair_segments(pred, ref, ["liver=liver"])
    pairs, _, _ = pair_segments(pred, ref, ["liver=1", "spleen=2"])
    assert [(p[0].value, r[0].value) for p, r in pairs] == [(1, 1), (2, 2)]
    report = score_files(str(pred.path), str(ref.path), ["liver=1"])
    assert report["segments"][0]["dice"] == segment_scores(labels == 1, labels == 1, SPACING)["dice"] == 1.0
