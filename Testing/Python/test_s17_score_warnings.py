"""``sdseg score`` on folders: a case's warning reaches the person reading the table, not only the JSON.

The case is a DICOM SEG made for another series than the DICOM labels it is scored against (the one
situation :func:`~SDSegLogic.cli_score.read_pair` warns about); files are written with pydicom.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.geometry import ImageGeometry
from io_test_helpers import write_dicom_series
from test_score_exact_labels import SERIES_A, SERIES_B, _seg_for


@pytest.fixture()
def folders(tmp_path):
    """``pred/case.seg.dcm`` (made for ``SERIES_A``) and ``ref/`` holding the labels as DICOM series ``SERIES_B``."""
    pytest.importorskip("pydicom")
    grid = ImageGeometry((0.9, 1.4, 2.5), (3.0, -7.0, 11.0), np.eye(3), (7, 6, 5))
    labels = np.zeros(grid.array_shape, np.int16)
    labels[1:3, 1:4, 1:5] = 1
    labels[3:5, 2:5, 3:6] = 2
    pred, ref = tmp_path / "pred", tmp_path / "ref"
    pred.mkdir()
    ref.mkdir()
    names = write_dicom_series(ref, labels.astype(np.float64), grid, series_uid=SERIES_B, intercept=0.0, prefix="case")
    seg = _seg_for(pred / "case_000.seg.dcm", grid, labels, SERIES_A)
    assert names[0].endswith("case_000.dcm")
    return pred, ref, seg


def test_a_case_warning_is_shown_in_the_folder_table(folders, capsys):
    pred, ref, seg = folders
    assert main(["score", str(pred), str(ref), "--json"]) == EXIT_OK
    case = next(c for c in json.loads(capsys.readouterr().out)["cases"] if c["case"] == "case_000")
    assert [r["dice"] for r in case["segments"]] == [1.0, 1.0] and len(case["warnings"]) == 1
    assert main(["score", str(pred), str(ref)]) == EXIT_OK
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert case["warnings"][0] in shown and "case_000" in shown.split(case["warnings"][0])[0].splitlines()[-1]


def test_a_case_warning_is_kept_in_the_folder_csv(folders, tmp_path, capsys):
    pred, ref, seg = folders
    out = tmp_path / "scores.csv"
    assert main(["score", str(pred), str(ref), "-o", str(out)]) == EXIT_OK
    text = out.read_text(encoding="utf-8")
    assert str(seg) in text and SERIES_A in text and SERIES_B in text
