"""``sdseg segment`` refuses output names that would collide or that the file system cannot hold, before any model loads.

Inputs whose names differ only in case (``CT.nrrd``, ``ct.nii.gz``) give ``CT.seg.nrrd`` and
``ct.seg.nrrd``: one file on macOS and Windows, so one result silently replaced the other. An
``-o`` name longer than the file system allows made ``Path.is_dir`` raise, exit 1 "unexpected".
The model named here does not exist: a usage error (exit 2) proves the check came first.
"""

from __future__ import annotations

import numpy as np
import pytest
from cli_segment_fixtures import run

pytest.importorskip("SimpleITK")


def _volume(path):
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 8, 8), np.int16)), str(path))
    return path


def test_inputs_differing_only_in_case_are_refused(tmp_path, capsys):
    first, second = _volume(tmp_path / "CT.nrrd"), _volume(tmp_path / "ct.nii.gz")
    code, out, err = run(["segment", first, second, "-o", tmp_path / "out", "--model", tmp_path / "no-such-model"], capsys)
    assert code == 2, err
    assert "ignoring case" in err and "CT" in err and "ct" in err
    assert not (tmp_path / "out").exists()


def test_two_outputs_differing_only_in_case_are_refused(tmp_path, capsys):
    scan = _volume(tmp_path / "scan.nrrd")
    code, out, err = run(["segment", scan, "-o", tmp_path / "Result.nrrd", "--prob-map", tmp_path / "result.NRRD",
                          "--model", tmp_path / "no-such-model"], capsys)
    assert code == 2, err
    assert "choose distinct names" in err


def test_an_output_name_too_long_for_the_file_system_is_a_usage_error(tmp_path, capsys):
    scan = _volume(tmp_path / "scan.nrrd")
    code, out, err = run(["segment", scan, "-o", tmp_path / ("x" * 300 + ".seg.nrrd"),
                          "--model", tmp_path / "no-such-model"], capsys)
    assert code == 2, err
    assert "unexpected" not in err
