"""Writers: text that reaches file headers (names, codes, character sets) and output file names.

* ``.seg.nrrd``: every terminology spelling the DICOM SEG writer accepts is stored, and a
  backslash in a header value is escaped the way teem (3D Slicer, ITK) reads it back.
* DICOM SEG: a segment name or code meaning is a valid single LO value whatever the card says,
  a non-ASCII name survives a source series without a UTF-8 character set, and a source without
  SliceThickness (a type 2 attribute) is not refused.
* output names: a long dotted name that the file system allows is written (the temporary file is
  no longer longer than it), one that it does not allow is refused before the model loads, and
  ``--frame all`` keeps the ending as the user spelled it.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from cli_segment_fixtures import crop, events, isolated_home, run, tiny_folder  # noqa: F401 (fixtures)
from io_test_helpers import geometry_for, make_card, rotation, write_dicom_series

from SDSegLogic.cli_frames import frame_path
from SDSegLogic.errors import InputError
from SDSegLogic.io import write_segmentation
from SDSegLogic.io.atomic import check_output_path
from SDSegLogic.model_card import SegmentClass
from SDSegLogic.terminology import segment_codes

ANATOMY = ("SCT", "123037004", "Anatomical Structure")  # a card gives a type with its category

sitk = pytest.importorskip("SimpleITK")
nrrd = pytest.importorskip("nrrd")

SHAPE_KJI = (4, 8, 8)


def _result(card, geometry=None, labels=None) -> SimpleNamespace:
    geometry = geometry or geometry_for(np.eye(3), shape_kji=SHAPE_KJI)
    if labels is None:
        labels = np.zeros(geometry.array_shape, np.uint8)
        labels[1, 2:4, 3:5] = card.classes[0].label_value
    return SimpleNamespace(labels=labels, geometry=geometry, seed=5, num_inference_steps=1, num_samples=1,
                           warnings=[])


def _card(*classes):
    return make_card(1).replace(classes=tuple(classes))


# ---------------------------------------------------------------------- .seg.nrrd header text
def test_seg_nrrd_stores_the_region_and_modifiers_in_every_spelling_the_dicom_seg_accepts(tmp_path):
    """A card written with ``region`` / ``type_modifier`` lost them in the .seg.nrrd (not in the DICOM SEG)."""
    terminology = {"category": ("SCT", "123037004", "Anatomical Structure"), "type": ("SCT", "64033007", "Kidney"),
                   "type_modifier": ("SCT", "7771000", "Left"), "region": ("SCT", "818981001", "Abdomen"),
                   "region_modifier": ("SCT", "255503000", "Entire")}
    card = _card(SegmentClass("left kidney", 1, (0.2, 0.7, 0.3), terminology))
    path = write_segmentation(tmp_path / "o.seg.nrrd", _result(card), card)
    tags = nrrd.read_header(str(path))["Segment0_Tags"].split("|")
    entry = next(t for t in tags if t.startswith("TerminologyEntry:"))[len("TerminologyEntry:"):].split("~")
    codes = segment_codes(terminology)
    assert entry[1:4] == ["^".join(codes[r]) for r in ("category", "type", "type_modifier")]
    assert entry[5:] == ["^".join(codes[r]) for r in ("region", "region_modifier")]
    assert entry[5] == "SCT^818981001^Abdomen" and entry[3] == "SCT^7771000^Left"


@pytest.mark.parametrize("meaning", ["C:\\new scan", "a\\\\b", "trailing\\"])
def test_seg_nrrd_values_with_a_backslash_read_back_unchanged_by_teem(tmp_path, meaning):
    """teem (Slicer, ITK) unescapes ``\\n`` and ``\\\\`` in key/value lines: a raw backslash was misread.

    Class names cannot hold a backslash (a card refuses them: the DICOM SEG would write '/'), but a
    terminology code meaning can, and it reaches the header in ``Segment0_Tags``.
    """
    card = _card(SegmentClass("lesion", 1, (0.2, 0.7, 0.3), {"category": ANATOMY, "type": ("SCT", "12345", meaning)}))
    path = write_segmentation(tmp_path / "o.seg.nrrd", _result(card), card)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    tags = reader.GetMetaData("Segment0_Tags").split("|")
    entry = next(t for t in tags if t.startswith("TerminologyEntry:"))[len("TerminologyEntry:"):].split("~")
    assert entry[2] == "SCT^12345^" + meaning


# ---------------------------------------------------------------------- output file names
def test_a_long_dotted_output_name_the_file_system_allows_is_written(tmp_path):
    """The temporary file took the whole ending after the first dot and exceeded 255 bytes."""
    card = make_card(1)
    for name in ["scan." + "x" * 236 + ".seg.nrrd", "scan." + "x" * 238 + ".nii.gz"]:
        assert len(name) == 250
        path = write_segmentation(tmp_path / name, _result(card), card)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(path))), _result(card).labels)
    assert sorted(len(p) for p in os.listdir(tmp_path)) == [250, 250]  # no temporary file left


def test_an_output_name_too_long_for_the_file_system_is_refused_before_the_model_loads(tiny_folder, crop, tmp_path,
                                                                                        capsys):
    name = "x" * 250 + ".seg.nrrd"
    with pytest.raises(InputError, match="file name is 259 bytes long"):
        check_output_path(tmp_path / name)
    code, out, err = run(["segment", crop, "-o", tmp_path / "new folder" / name, "--model", tiny_folder, "--json"],
                         capsys)
    assert code == 2, err
    assert [e["event"] for e in events(out)] == ["error"]  # nothing ran
    assert "choose a shorter output name" in events(out)[0]["message"]


def test_outputs_named_after_a_long_input_are_refused_before_the_model_loads(tiny_folder, crop, tmp_path, capsys):
    """An input name the file system allows gives an output name it does not: exit 1 or 6 after the run before."""
    import shutil

    long_input = shutil.copy(crop, tmp_path / ("y" * 248 + ".nrrd"))
    results = tmp_path / "results"
    results.mkdir()
    code, out, err = run(["segment", long_input, crop, "-o", results, "--model", tiny_folder, "--json"], capsys)
    assert code == 2, err
    assert [e["event"] for e in events(out)] == ["error"]
    assert "257 bytes long" in events(out)[0]["message"] and os.listdir(results) == []


@pytest.mark.parametrize("name, expected", [
    ("CT.SEG.NRRD", "CT.frame002.SEG.NRRD"), ("Cine.NII.GZ", "Cine.frame002.NII.GZ"),
    ("a.b.nii.gz", "a.b.frame002.nii.gz"), (".seg.nrrd", ".frame002.seg.nrrd"), (".nii.gz", ".frame002.nii.gz"),
])
def test_frame_names_keep_the_ending_as_written(name, expected):
    assert frame_path(Path("out") / name, 2, 5) == Path("out") / expected


# ---------------------------------------------------------------------- DICOM SEG text
def _dicom_series(folder: Path, edit) -> Path:
    """A 4-slice oblique CT series whose headers ``edit(ds)`` changes."""
    pydicom = pytest.importorskip("pydicom")
    geometry = geometry_for(rotation(25, 15), shape_kji=SHAPE_KJI, spacing=(0.8, 0.7, 2.5), origin=(-40.0, 12.5, 90.0))
    folder.mkdir()
    for name in write_dicom_series(folder, np.zeros(SHAPE_KJI, np.float32), geometry):
        ds = pydicom.dcmread(name)
        edit(ds)
        ds.save_as(name, enforce_file_format=True)
    return folder


def _write_seg(tmp_path: Path, card, edit=lambda ds: None):
    pydicom = pytest.importorskip("pydicom")
    pytest.importorskip("highdicom")
    from SDSegLogic.io import read_image
    from SDSegLogic.io.dicom_seg import write_dicom_seg
    from SDSegLogic.io.dicom_sources import load_dicom_sources

    series = _dicom_series(tmp_path / "series", edit)
    image = read_image(series)
    labels = np.zeros(image.geometry.array_shape, np.uint8)
    for n, segment in enumerate(card.classes):
        labels[n % SHAPE_KJI[0], 1:3, 2:4] = segment.label_value
    path = write_dicom_seg(tmp_path / "o.seg.dcm", _result(card, image.geometry, labels), card,
                           load_dicom_sources(series, image.geometry, None))
    return pydicom.dcmread(path), series


def test_dicom_seg_labels_and_code_meanings_are_single_valid_lo_values(tmp_path):
    """A backslash split a code meaning into two values (class names refuse it); a code meaning over 64 characters was blamed on the series."""
    meaning = "Structure of the left anterior descending branch of the coronary artery, entire"  # 80 characters
    card = _card(SegmentClass("new lesion", 1, (0.9, 0.1, 0.1), {"category": ANATOMY, "type": ("SCT", "12345", meaning)}),
                 SegmentClass("vessel", 2, (0.1, 0.1, 0.9), {"category": ANATOMY, "type": ("SCT", "59820001", "Blood\\vessel")}))
    seg, _ = _write_seg(tmp_path, card)
    labels = [item.SegmentLabel for item in seg.SegmentSequence]
    assert labels == ["new lesion", "vessel"]
    types = [item.SegmentedPropertyTypeCodeSequence[0] for item in seg.SegmentSequence]
    assert [code.CodeMeaning for code in types] == [meaning[:64], "Blood/vessel"]
    assert [code.CodeValue for code in types] == ["12345", "59820001"]


@pytest.mark.parametrize("charset", [None, "ISO_IR 100"])
def test_a_non_ascii_segment_name_survives_a_series_without_utf8(tmp_path, charset, recwarn):
    """The SEG kept the source's character set: the name was written undeclared, or with '?' for 肝."""
    def edit(ds):
        if charset:
            ds.SpecificCharacterSet = charset
            ds.PatientName = "Müller^Jürgen"

    card = _card(SegmentClass("Leber 肝 ü", 1, (0.9, 0.4, 0.3), {"category": ANATOMY, "type": ("SCT", "10200004", "Leber ü")}))
    seg, _ = _write_seg(tmp_path, card, edit)
    assert seg.SpecificCharacterSet == "ISO_IR 192"
    assert seg.SegmentSequence[0].SegmentLabel == "Leber 肝 ü"
    assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Leber ü"
    assert str(seg.PatientName) == ("Müller^Jürgen" if charset else "Anonymous")
    assert not [w for w in recwarn if "Failed to encode" in str(w.message)]


def test_a_series_without_slice_thickness_gives_a_seg_on_its_slices(tmp_path):
    """SliceThickness is type 2 (and often absent from anonymised exports): highdicom failed on it."""
    highdicom = pytest.importorskip("highdicom")
    pydicom = pytest.importorskip("pydicom")
    card = make_card(2)
    seg, series = _write_seg(tmp_path, card, lambda ds: delattr(ds, "SliceThickness"))
    positions = {ds.SOPInstanceUID: [float(v) for v in ds.ImagePositionPatient]
                 for ds in (pydicom.dcmread(p) for p in sorted(series.iterdir()))}
    assert int(seg.NumberOfFrames) == 2
    for item in seg.PerFrameFunctionalGroupsSequence:
        uid = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        np.testing.assert_allclose([float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient],
                                   positions[uid], atol=1e-4)
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    np.testing.assert_allclose([float(v) for v in measures.PixelSpacing], [0.7, 0.8], atol=1e-6)
    assert highdicom.seg.Segmentation.from_dataset(seg).get_segment_numbers() == [1, 2]
