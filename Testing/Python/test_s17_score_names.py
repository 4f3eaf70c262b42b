"""``sdseg score`` pairs files and segments by name whatever the Unicode form of the name.

``é`` may be stored composed (NFC, one code point) or decomposed (NFD, ``e`` + combining accent): a
folder copied from a macOS disk keeps file names decomposed, while the same names typed on Linux or
Windows are composed. Both spell one name. Files are written with SimpleITK and pynrrd directly.
"""

from __future__ import annotations

import unicodedata

import numpy as np

from SDSegLogic.cli_score import score_files
from SDSegLogic.cli_score_batch import score_folders
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io.label_files import read_label_volume
from test_s17_score_inputs import grid, labels  # noqa: F401 - pytest fixtures
from test_score import write_labelmap

NFC, NFD = (unicodedata.normalize(form, "tête-thorax") for form in ("NFC", "NFD"))


def test_cases_named_in_either_unicode_form_are_paired(tmp_path, grid, labels):
    assert NFC != NFD
    pred, ref = tmp_path / "pred", tmp_path / "ref"
    pred.mkdir()
    ref.mkdir()
    write_labelmap(pred / f"{NFC}.nii.gz", labels, grid)
    write_labelmap(ref / f"{NFD}.nrrd", labels, grid)
    write_labelmap(pred / "plain.nii.gz", labels, grid)
    write_labelmap(ref / "plain.nrrd", labels, grid)
    report = score_folders(pred, ref)
    assert [(c["case"], c["mean_dice"]) for c in report["cases"]] == [("plain", 1.0), (NFC, 1.0)]
    assert (report["prediction_only"], report["reference_only"]) == ([], [])


def _seg_nrrd(path, labels: np.ndarray, grid: ImageGeometry, names) -> str:
    """A ``.seg.nrrd`` by SDSeg's NRRD writer, which writes UTF-8 names as Slicer does (pynrrd's writer cannot)."""
    from SDSegLogic.io._nrrd_write import write_nrrd

    fields = {}
    for n, name in enumerate(names):
        fields.update({f"Segment{n}_ID": f"Segment_{n}", f"Segment{n}_Name": name, f"Segment{n}_LabelValue": str(n + 1),
                       f"Segment{n}_Layer": "0", f"Segment{n}_Color": "0.5 0.5 0.5",
                       f"Segment{n}_Extent": "0 -1 0 -1 0 -1"})
    write_nrrd(path, labels, grid, fields)
    return str(path)


def test_non_ascii_segment_names_are_read_as_written(tmp_path, grid, labels):
    """``Tête`` stays ``Tête`` (not ``Tte``), and ``Läsion`` and ``Lösion`` stay two segments."""
    path = _seg_nrrd(tmp_path / "a.seg.nrrd", labels, grid, [NFC, "C:\\new"])
    assert [s.name for s in read_label_volume(path).segments] == [NFC, "C:\\new"]
    two = _seg_nrrd(tmp_path / "two.seg.nrrd", labels, grid, ["Läsion", "Lösion"])
    report = score_files(two, two)
    assert [r["prediction_segment"] for r in report["segments"]] == ["Läsion", "Lösion"]
    assert score_files(path, two, [f"{NFC}=Lösion"])["segments"][0]["reference_values"] == [2]


def test_segments_named_in_either_unicode_form_are_paired(tmp_path, grid, labels):
    pred = _seg_nrrd(tmp_path / "pred.seg.nrrd", labels, grid, [NFC, "Milz"])
    ref = _seg_nrrd(tmp_path / "ref.seg.nrrd", labels, grid, [NFD.upper(), "milz"])
    report = score_files(pred, ref)
    assert [(r["prediction_segment"], r["dice"]) for r in report["segments"]] == [(NFC, 1.0), ("Milz", 1.0)]
    assert (report["prediction_only"], report["reference_only"]) == ([], [])
    assert score_files(pred, ref, [f"{NFD}={NFC}"])["segments"][0]["dice"] == 1.0


def test_the_table_shows_one_name_for_names_that_pair_as_one(tmp_path, grid, labels):
    """``Straße`` and ``STRASSE`` pair as one segment (case-folded): the table shows one name, not ``a = b``."""
    from SDSegLogic.score_report import report_text

    pred = _seg_nrrd(tmp_path / "p.seg.nrrd", labels, grid, ["Straße", NFC])
    ref = _seg_nrrd(tmp_path / "r.seg.nrrd", labels, grid, ["STRASSE", NFD])
    text = report_text(score_files(pred, ref))
    assert "=" not in text.split("\n\n", 1)[1].split("\n", 2)[1], text  # the first segment row
    assert "Straße = STRASSE" not in text and f"{NFC} = {NFD}" not in text, text
