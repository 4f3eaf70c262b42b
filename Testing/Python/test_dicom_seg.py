"""DICOM SEG output of ``sdseg segment`` (``-o ct.seg.dcm`` / ``--dicom-seg P``), end to end.

A tiny oblique CT series (5 slices of 32 x 32) is written with pydicom under shuffled file names
and InstanceNumbers, segmented by a tiny random model, and the SEG is read back with pydicom.
Every frame must reference the source instance at its ImagePositionPatient, and the frames,
put back on the volume grid, must equal the labels the ``.seg.nrrd`` writer wrote in the same run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from cli_segment_fixtures import events, isolated_home, run, tiny_folder  # noqa: F401 - fixtures
from engine_test_helpers import tiny_card, tiny_model
from io_test_helpers import geometry_for, rotation, write_dicom_series

from SDSegLogic.errors import GeometryError, InputError
from SDSegLogic.model_card import SegmentClass
from SDSegLogic.model_folder import save_model_folder

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("highdicom")
nrrd = pytest.importorskip("nrrd")

SHAPE_KJI = (5, 32, 32)
GEOMETRY = geometry_for(rotation(25, 15), shape_kji=SHAPE_KJI, spacing=(0.8, 0.7, 2.5), origin=(-40.0, 12.5, 90.0))
ANATOMY = ("SCT", "123037004", "Anatomical Structure")
CLASSES = (  # label values not 1..n, so segment numbers (1..n in card order) differ from label values
    SegmentClass("liver", 7, (0.86, 0.45, 0.39), {"category": ANATOMY, "type": ("SCT", "10200004", "Liver"),
                                                   "anatomicRegion": ("SCT", "818981001", "Abdomen"),
                                                   "anatomicRegionModifier": ("SCT", "255503000", "Entire")}),
    SegmentClass("left kidney", 3, (0.2, 0.7, 0.3), {"category": ANATOMY, "type": ("SCT", "64033007", "Kidney"),
                                                      "typeModifier": ("SCT", "7771000", "Left")}),
    SegmentClass("lesion", 12, (0.1, 0.1, 0.9), {}),  # no codes: SNOMED CT "Tissue" for both
)


def _volume() -> np.ndarray:
    """float32 (K, J, I) HU: an off-centre disc that moves from slice to slice, on a ramp."""
    k, j, i = np.meshgrid(*[np.arange(n) for n in SHAPE_KJI], indexing="ij")
    return ((np.hypot(j - 12 - 2 * k, i - 18) < 9) * 1200.0 - 1000.0 + i * 10.0).astype(np.float32)


def _shuffled_series(folder: Path, uid: str, seed: int, offset: float = 0.0) -> Path:
    """Write the series, then rename its files and renumber InstanceNumber in a random order."""
    folder.mkdir(parents=True)
    names = write_dicom_series(folder, _volume() + offset, GEOMETRY, series_uid=uid, prefix=f"tmp{seed}")
    order = np.random.default_rng(seed).permutation(len(names))
    for name, number in zip(names, order):
        ds = pydicom.dcmread(name)
        ds.InstanceNumber = int(number) * 3 + 1
        ds.save_as(folder / f"img_{number:02d}_{uid[-1]}.dcm", enforce_file_format=True)
        Path(name).unlink()
    return folder


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    return _shuffled_series(tmp_path_factory.mktemp("dicom") / "ct series", "1.2.826.0.1.3680043.2.1125.7.1", 3)


@pytest.fixture(scope="module")
def coded_model(tmp_path_factory) -> Path:
    card = tiny_card(4, model_id="tiny-coded").replace(classes=CLASSES, version="2.1.0")
    return save_model_folder(tmp_path_factory.mktemp("model") / "tiny-coded", tiny_model(4, seed=2), card)


def _sources(folder: Path) -> dict:
    """SOPInstanceUID -> ImagePositionPatient (float array) of every file in ``folder``."""
    return {ds.SOPInstanceUID: np.array([float(v) for v in ds.ImagePositionPatient])
            for ds in (pydicom.dcmread(p) for p in sorted(folder.iterdir()))}


def _labels_from_seg(seg_path: Path, header: dict, sources: dict, label_values: list) -> np.ndarray:
    """Put every frame of the SEG back on the ``.seg.nrrd`` grid; checks each frame's plane position.

    The slice of a frame comes from its referenced source instance's position, mapped through
    the ``.seg.nrrd`` header's geometry (our trusted writer), never from the frame order.
    """
    seg = pydicom.dcmread(seg_path)
    axes = np.asarray(header["space directions"], dtype=np.float64).T  # columns: i, j, k steps (LPS mm)
    origin = np.asarray(header["space origin"], dtype=np.float64)
    labels = np.zeros(SHAPE_KJI, dtype=np.uint8)
    frames = seg.pixel_array.reshape(-1, *SHAPE_KJI[1:])
    for frame, item in zip(frames, seg.PerFrameFunctionalGroupsSequence):
        uid = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        position = np.array([float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient])
        np.testing.assert_allclose(position, sources[uid], atol=1e-4)  # the frame sits on its source's plane
        i, j, k = np.linalg.solve(axes, sources[uid] - origin)
        assert abs(i) < 1e-3 and abs(j) < 1e-3 and abs(k - round(k)) < 1e-3
        number = item.SegmentIdentificationSequence[0].ReferencedSegmentNumber
        assert not np.any(labels[int(round(k))][frame > 0]), "segments overlap"
        labels[int(round(k))][frame > 0] = label_values[number - 1]
    return labels


def _segment(series_dir: Path, tmp_path: Path, model: Path, capsys, *extra) -> tuple:
    seg_nrrd, seg_dcm = tmp_path / "out.seg.nrrd", tmp_path / "out.seg.dcm"
    code, out, err = run(["segment", series_dir, "-o", seg_nrrd, "--dicom-seg", seg_dcm, "--model", model, "--json",
                          *extra], capsys)
    assert code == 0, err
    assert events(out)[-2]["outputs"] == {"segmentation": str(seg_nrrd), "dicom_seg": str(seg_dcm)}
    return seg_nrrd, seg_dcm


@pytest.mark.parametrize("slices", [None, "1:3"])
def test_frames_reference_their_source_and_equal_the_seg_nrrd(series, coded_model, tmp_path, capsys, slices):
    extra = ["--slices", slices] if slices else []
    before = {p.name: p.read_bytes() for p in series.iterdir()}
    seg_nrrd, seg_dcm = _segment(series, tmp_path, coded_model, capsys, *extra)
    assert {p.name: p.read_bytes() for p in series.iterdir()} == before  # inputs untouched, nothing added
    expected, header = nrrd.read(str(seg_nrrd), index_order="C")
    assert len(np.unique(expected)) >= 3, "the tiny model should find at least two classes"
    got = _labels_from_seg(seg_dcm, header, _sources(series), [c.label_value for c in CLASSES])
    np.testing.assert_array_equal(got, expected)
    if slices:  # slices outside --slices are background: no frame references them
        assert not expected[[0, 3, 4]].any()


def test_segment_descriptions_follow_the_model_card(series, coded_model, tmp_path, capsys):
    import highdicom

    from SDSegLogic import __version__

    _, seg_dcm = _segment(series, tmp_path, coded_model, capsys)
    seg, source = pydicom.dcmread(seg_dcm), pydicom.dcmread(next(series.iterdir()))
    assert seg.Modality == "SEG" and seg.SegmentationType == "BINARY"
    assert "not for clinical use" in seg.SeriesDescription and "research" in seg.ContentDescription
    assert seg.StudyInstanceUID == source.StudyInstanceUID and seg.FrameOfReferenceUID == source.FrameOfReferenceUID
    assert seg.SeriesInstanceUID != source.SeriesInstanceUID
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
    tissue = ("SCT", "85756007", "Tissue")
    for number, (item, cls) in enumerate(zip(seg.SegmentSequence, CLASSES), start=1):
        assert (item.SegmentNumber, item.SegmentLabel, item.SegmentAlgorithmType) == (number, cls.name, "AUTOMATIC")
        for key, attr in (("category", "SegmentedPropertyCategoryCodeSequence"),
                          ("type", "SegmentedPropertyTypeCodeSequence")):
            code = getattr(item, attr)[0]
            assert (code.CodingSchemeDesignator, code.CodeValue, code.CodeMeaning) == cls.terminology.get(key, tissue)
        value = np.asarray(item.RecommendedDisplayCIELabValue, dtype=np.float64)
        lab = highdicom.color.CIELabColor(value[0] / 65535 * 100, value[1] / 65535 * 255 - 128,
                                          value[2] / 65535 * 255 - 128)
        np.testing.assert_allclose(lab.to_rgb(), np.asarray(cls.color) * 255, atol=2)  # the card's colour
        algorithm = item.SegmentationAlgorithmIdentificationSequence[0]
        assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("SDSeg", __version__)
        assert algorithm.AlgorithmFamilyCodeSequence[0].CodeMeaning == "Artificial Intelligence"
        parameters = {p.split("=")[0]: p.split("=")[1] for p in algorithm.AlgorithmParameters.split(",")}
        assert parameters["model_id"] == "tiny-coded" and parameters["model_version"] == "2.1.0"
    modifier = seg.SegmentSequence[1].SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence
    assert modifier[0].CodeValue == "7771000"
    region = seg.SegmentSequence[0].AnatomicRegionSequence[0]
    assert (region.CodeValue, region.AnatomicRegionModifierSequence[0].CodeValue) == ("818981001", "255503000")
    assert "AnatomicRegionSequence" not in seg.SegmentSequence[2]


def test_o_dcm_writes_a_dicom_seg_of_the_chosen_series(tmp_path, tiny_folder, capsys):
    """``-o x.seg.dcm`` alone; ``--series`` picks the second of two series that share the grid."""
    first = _shuffled_series(tmp_path / "two", "1.2.826.0.1.3680043.2.1125.7.1", 1)
    _shuffled_series(tmp_path / "other", "1.2.826.0.1.3680043.2.1125.7.2", 2, offset=50.0)
    for path in (tmp_path / "other").iterdir():
        path.rename(first / path.name)
    out = tmp_path / "result.seg.dcm"
    code, _, err = run(["segment", first, "-o", out, "--model", tiny_folder, "--series",
                        "1.2.826.0.1.3680043.2.1125.7.2", "--quiet"], capsys)
    assert code == 0, err
    seg = pydicom.dcmread(out)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == "1.2.826.0.1.3680043.2.1125.7.2"
    referenced = {item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
                  for item in seg.PerFrameFunctionalGroupsSequence}
    assert referenced and all(uid.startswith("1.2.826.0.1.3680043.2.1125.7.2.") for uid in referenced)
    assert seg.SegmentSequence[0].SegmentLabel == "liver"
    assert seg.SegmentSequence[0].SegmentedPropertyCategoryCodeSequence[0].CodeValue == "123037004"  # the card's category


def _result(labels: np.ndarray, geometry) -> SimpleNamespace:
    return SimpleNamespace(labels=labels, geometry=geometry, seed=0, num_inference_steps=1, num_samples=1)


@pytest.mark.parametrize("present", [(), (12,)])
def test_empty_segments_still_give_a_valid_file(series, tmp_path, present):
    from SDSegLogic.io import read_image
    from SDSegLogic.io.dicom_seg import write_dicom_seg
    from SDSegLogic.io.dicom_sources import load_dicom_sources

    card = tiny_card(4).replace(classes=CLASSES)
    geometry = read_image(series).geometry
    labels = np.zeros(SHAPE_KJI, dtype=np.uint8)
    for value in present:
        labels[2, 4:9, 5:11] = value
    out = write_dicom_seg(tmp_path / "empty.seg.dcm", _result(labels, geometry), card,
                          load_dicom_sources(series, geometry), input_path=series)
    seg = pydicom.dcmread(out)
    assert [item.SegmentLabel for item in seg.SegmentSequence] == [c.name for c in CLASSES]
    numbers = [item.SegmentIdentificationSequence[0].ReferencedSegmentNumber
               for item in seg.PerFrameFunctionalGroupsSequence]
    if present:  # empty frames are omitted: one frame, of segment 3 (label value 12)
        assert numbers == [3] and int(seg.pixel_array.sum()) == 30
    else:  # nothing found: every (slice, segment) frame is kept, all empty
        assert sorted(numbers) == sorted([1, 2, 3] * SHAPE_KJI[0]) and not seg.pixel_array.any()
    import highdicom

    assert highdicom.seg.segread(out).number_of_segments == 3


def test_slice_mapping_refuses_what_is_not_one_to_one(series):
    from SDSegLogic.io import read_image
    from SDSegLogic.io.dicom_sources import slice_order

    geometry = read_image(series).geometry
    files = sorted(str(p) for p in series.iterdir())
    datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    order = slice_order(datasets, files, geometry, "series")
    along = [float(np.dot(np.array(datasets[i].ImagePositionPatient, float), geometry.direction_matrix[:, 2]))
             for i in order]
    assert np.all(np.diff(along) > 0) and order != sorted(order)  # by position, not by file name
    datasets[1].ImagePositionPatient = datasets[0].ImagePositionPatient
    with pytest.raises(GeometryError, match="same slice"):
        slice_order(datasets, files, geometry, "series")
    with pytest.raises(GeometryError, match="no DICOM instance lies on volume slice"):
        slice_order(datasets[1:], files[1:], geometry, "series")
    datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    flipped = [float(v) for v in datasets[0].ImageOrientationPatient]
    datasets[0].ImageOrientationPatient = flipped[:3] + [-v for v in flipped[3:]]
    with pytest.raises(GeometryError, match="flipped or swapped"):
        slice_order(datasets, files, geometry, "series")
    datasets[0] = pydicom.dcmread(files[0], stop_before_pixels=True)
    datasets[0].NumberOfFrames = 2
    with pytest.raises(GeometryError, match="multi-frame"):
        slice_order(datasets, files, geometry, "series")


def test_non_dicom_input_is_refused_before_the_model_loads(tmp_path, capsys):
    import SimpleITK as sitk

    image = tmp_path / "ct.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(_volume()), str(image))
    for argv in (["-o", tmp_path / "ct.seg.dcm"], ["-o", tmp_path / "ct.seg.nrrd", "--dicom-seg", tmp_path / "x.dcm"]):
        code, _, err = run(["segment", image, *argv, "--model", tmp_path / "no-such-model"], capsys)
        assert code == 2, err  # a usage error, not the model error (4) that loading would give
        assert str(image) in err and "not a DICOM series" in err and ".seg.nrrd" in err
    assert not list(tmp_path.glob("*.dcm")) and not list(tmp_path.glob("*.seg.nrrd"))


def test_missing_highdicom_is_reported_before_the_model_loads(series, tmp_path, capsys, monkeypatch):
    from SDSegLogic.io import read_image
    from SDSegLogic.io.dicom_seg import write_dicom_seg
    from SDSegLogic.io.dicom_sources import load_dicom_sources

    geometry = read_image(series).geometry
    sources = load_dicom_sources(series, geometry)
    monkeypatch.setitem(sys.modules, "highdicom", None)  # import highdicom -> ImportError
    out = tmp_path / "ct.seg.dcm"
    code, _, err = run(["segment", series, "-o", out, "--model", tmp_path / "no-such-model"], capsys)
    assert code == 6, err
    assert str(out) in err and 'pip install "sdseg[dicom]"' in err
    with pytest.raises(InputError, match=r'pip install "sdseg\[dicom\]"'):
        write_dicom_seg(out, _result(np.zeros(SHAPE_KJI, np.uint8), geometry), tiny_card(), sources)
    assert not out.exists()


def test_dicom_seg_paths_follow_the_other_outputs(tmp_path, series, capsys):
    from SDSegLogic.cli import build_parser
    from SDSegLogic.cli_segment import plan_jobs

    def plan(*argv):
        return plan_jobs(build_parser().parse_args(["segment", *map(str, argv)]))

    jobs = plan(series, tmp_path / "b", "-o", tmp_path / "out/", "--dicom-seg", tmp_path / "dcm/", "--series", "1.2")
    assert jobs[0].outputs["dicom_seg"] == tmp_path / "dcm" / "ct series.seg.dcm" and jobs[0].series == "1.2"
    assert plan(series, "-o", tmp_path / "ct.seg.dcm")[0].outputs == {"segmentation": tmp_path / "ct.seg.dcm"}
    code, _, err = run(["segment", series, "-o", tmp_path / "a.seg.nrrd", "--dicom-seg", tmp_path / "a.nrrd"], capsys)
    assert code == 2 and "--dicom-seg" in err and ".dcm" in err


def test_score_reads_a_dicom_seg_back_onto_the_series_grid(series, coded_model, tmp_path, capsys):
    """``sdseg score`` places each SEG frame on the other file's grid: the SEG and the .seg.nrrd of one run agree."""
    from SDSegLogic.cli_score import score_files

    seg_nrrd, seg_dcm = _segment(series, tmp_path, coded_model, capsys)
    for report in (score_files(str(seg_nrrd), str(seg_dcm)), score_files(str(seg_dcm), str(seg_nrrd))):
        assert [r["prediction_segment"] for r in report["segments"]] == [c.name for c in CLASSES]
        assert all(r["dice"] == 1.0 and r["hd_mm"] in (0.0, None) for r in report["segments"])
        assert sum(r["voxels_reference"] for r in report["segments"]) > 0
    ds = pydicom.dcmread(seg_dcm)
    position = ds.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0]
    position.ImagePositionPatient = [float(v) + 0.4 for v in position.ImagePositionPatient]  # off the voxel centres
    ds.save_as(tmp_path / "moved.seg.dcm")
    with pytest.raises(GeometryError, match="frame 1 .* off the image grid"):
        score_files(str(seg_nrrd), str(tmp_path / "moved.seg.dcm"))
    with pytest.raises(InputError, match="both DICOM SEGs"):
        score_files(str(seg_dcm), str(seg_dcm))
    from SDSegLogic.io.label_files import read_label_volume

    with pytest.raises(InputError, match="no voxel grid of its own"):
        read_label_volume(seg_dcm)
