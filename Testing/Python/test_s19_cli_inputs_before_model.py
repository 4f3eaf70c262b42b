"""``sdseg segment`` refuses inputs no model could segment before it loads the model (tens of seconds).

The model named here does not exist: a run that checked its inputs first exits 3 (input) naming the input;
one that loaded the model first exits 4 (model not found), after the user waited for nothing in real use.
"""

from __future__ import annotations

import numpy as np
import pytest

from cli_segment_fixtures import isolated_home, run  # noqa: F401 (fixture)
from io_test_helpers import geometry_for, marker_array, sitk_image

EXIT_INPUT = 3
NO_MODEL = "no-such-model-anywhere"


def test_a_text_file_is_refused_before_the_model(tmp_path, capsys, isolated_home):  # noqa: F811
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image\n")
    code, _, err = run(["segment", notes, "-o", tmp_path / "x.seg.nrrd", "--model", NO_MODEL], capsys)
    assert code == EXIT_INPUT, err
    assert "notes.txt" in err


def test_a_folder_of_nrrd_scans_is_refused_before_the_model_naming_them(tmp_path, capsys, isolated_home):  # noqa: F811
    sitk = pytest.importorskip("SimpleITK")
    scans = tmp_path / "scans"
    scans.mkdir()
    for name in ("a.nrrd", "b.nrrd"):
        sitk.WriteImage(sitk_image(marker_array(), geometry_for(np.eye(3))), str(scans / name))
    code, _, err = run(["segment", scans, "-o", tmp_path / "x.seg.nrrd", "--model", NO_MODEL], capsys)
    assert code == EXIT_INPUT, err
    assert "a.nrrd" in err and "*.nrrd" in err


def test_an_empty_folder_is_refused_before_the_model(tmp_path, capsys, isolated_home):  # noqa: F811
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(["segment", empty, "-o", tmp_path / "x.seg.nrrd", "--model", NO_MODEL], capsys)
    assert code == EXIT_INPUT, err
    assert "no DICOM series found" in err


def test_with_one_usable_input_the_run_goes_on_to_the_model(tmp_path, capsys, isolated_home):  # noqa: F811
    """One bad input among usable ones is reported as the run reaches it (here: the model is what stops it)."""
    sitk = pytest.importorskip("SimpleITK")
    good, notes = tmp_path / "a.nrrd", tmp_path / "notes.txt"
    sitk.WriteImage(sitk_image(marker_array(), geometry_for(np.eye(3))), str(good))
    notes.write_text("not an image\n")
    code, _, err = run(["segment", good, notes, "-o", tmp_path / "out", "--model", NO_MODEL], capsys)
    assert code == 4, err  # model not found: the inputs were not refused up front
