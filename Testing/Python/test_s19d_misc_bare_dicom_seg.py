"""A DICOM SEG stored without the 128-byte preamble and ``DICM`` marker is scored as the SEG it is.

``detect_format`` recognises a bare DICOM data set (``sniff._dicom_without_preamble``), but ``is_dicom_seg``
and ``_dicom._looks_like_dicom`` looked for ``DICM`` at byte 128 only: ``sdseg score`` took such a SEG for a
plain DICOM image and failed or scored the wrong thing, and a bare file GDCM left out of every series was not
reported. The SEG is written with pydicom (``test_score_pairing.write_dicom_seg``) and saved again without
preamble and file meta.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io._dicom import _looks_like_dicom
from SDSegLogic.io.dicom_seg_read import is_dicom_seg
from SDSegLogic.overlap_metrics import segment_scores
from test_score import write_labelmap
from test_score_pairing import write_dicom_seg

pydicom = pytest.importorskip("pydicom")

GRID = ImageGeometry((0.9, 1.4, 2.5), (3.0, -7.0, 11.0), np.eye(3), (8, 7, 6))


def _strip_preamble(path: Path, implicit: bool) -> Path:
    """Save ``path`` again as the data set alone: no preamble, no ``DICM``, no file meta."""
    ds = pydicom.dcmread(str(path))
    ds.preamble = None
    del ds.file_meta
    pydicom.dcmwrite(str(path), ds, implicit_vr=implicit, little_endian=True, enforce_file_format=False)
    data = path.read_bytes()
    assert data[128:132] != b"DICM" and data[:2] == b"\x08\x00"
    return path


def _masks() -> tuple:
    """(prediction, reference): (K, J, I) bool, the prediction missing one slice of the reference."""
    reference = np.zeros(GRID.array_shape, bool)
    reference[1:5, 2:5, 1:6] = True
    prediction = reference.copy()
    prediction[4] = False
    return prediction, reference


@pytest.mark.parametrize("implicit", [True, False])
def test_a_seg_without_preamble_is_scored_as_a_seg(tmp_path, implicit):
    prediction, reference = _masks()
    seg = _strip_preamble(write_dicom_seg(tmp_path / "pred.seg.dcm", GRID, [prediction], ["liver"], [1]), implicit)
    assert is_dicom_seg(seg)
    ref = write_labelmap(tmp_path / "ref.nrrd", reference.astype(np.uint8), GRID)
    out = tmp_path / "scores.json"
    assert main(["score", str(seg), str(ref), "-o", str(out)]) == EXIT_OK
    report = json.loads(out.read_text(encoding="utf-8"))
    expected = segment_scores(prediction, reference, GRID.spacing)
    assert [r["dice"] for r in report["segments"]] == [expected["dice"]]


def test_a_bare_dicom_file_without_dicom_name_looks_like_dicom(tmp_path):
    prediction, _ = _masks()
    seg = _strip_preamble(write_dicom_seg(tmp_path / "pred.seg.dcm", GRID, [prediction], ["liver"], [1]), True)
    unnamed = seg.rename(tmp_path / "IM0001")
    assert _looks_like_dicom(unnamed) and is_dicom_seg(unnamed)
    other = tmp_path / "README"
    other.write_text("not DICOM\n" * 30, encoding="utf-8")
    assert not _looks_like_dicom(other) and not is_dicom_seg(other)
