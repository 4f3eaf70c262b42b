"""What the reader notes while reading a labelmap reaches the score report, not only stderr.

Before, ``sdseg score pred.nrrd labels/`` with two DICOM series in ``labels/`` scored the larger one and said so
only as a Python warning: the report (``-o .json``/``.csv``, the table's warnings) did not say which series was
scored, nor that files were left out of it. The series are written with pydicom
(``io_test_helpers.write_dicom_series``), the labelmap with SimpleITK.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.overlap_metrics import segment_scores
from io_test_helpers import write_dicom_series
from test_score import write_labelmap

_UID = "1.2.826.0.1.3680043.2.1125.1919"


@pytest.fixture()
def grid():
    return ImageGeometry((0.9, 1.4, 2.5), (3.0, -7.0, 11.0), np.eye(3), (7, 6, 5))


def test_the_series_chosen_among_several_is_named_in_the_report(tmp_path, grid, capsys):
    pytest.importorskip("pydicom")
    ref = np.zeros(grid.array_shape, np.int16)
    ref[1:4, 1:4, 1:5] = 1
    labels = tmp_path / "labels"
    labels.mkdir()
    write_dicom_series(labels, ref.astype(np.float64), grid, series_uid=f"{_UID}.1", intercept=0.0)
    write_dicom_series(labels, np.zeros((3, *grid.array_shape[1:])), grid, series_uid=f"{_UID}.2", intercept=0.0,
                       prefix="scout")
    prediction = write_labelmap(tmp_path / "pred.nrrd", ref, grid)
    out_json, out_csv = tmp_path / "scores.json", tmp_path / "scores.csv"
    with pytest.warns(UserWarning, match="2 DICOM series"):
        assert main(["score", str(prediction), str(labels), "-o", str(out_json)]) == EXIT_OK
    report = json.loads(out_json.read_text(encoding="utf-8"))
    assert report["segments"][0]["dice"] == segment_scores(ref == 1, ref == 1, grid.spacing)["dice"]
    [note] = report["warnings"]
    assert str(labels) in note and "2 DICOM series" in note and "using the largest (5 slices)" in note
    assert f"warning: {note}" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="2 DICOM series"):
        assert main(["score", str(prediction), str(labels), "-o", str(out_csv)]) == EXIT_OK
    assert list(csv.DictReader(out_csv.open(encoding="utf-8")))[0]["warnings"] == note
