"""An output never replaces a file of the input DICOM series, also when the input is one file of it.

A DICOM file input is read with every file of its series in its folder, so those files are the
input too. ``sdseg segment series/slice_000.dcm -o series/slice_002.dcm`` used to exit 0 after
writing the DICOM SEG over slice 2: the series lost a slice and the next run refused it as
non-uniform.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from cli_segment_fixtures import isolated_home, run, tiny_folder  # noqa: F401 - fixtures
from io_test_helpers import geometry_for, write_dicom_series

from SDSegLogic.cli import EXIT_OK, EXIT_USAGE
from SDSegLogic.errors import InputError
from SDSegLogic.io.atomic import check_output_path


OTHER = "1.2.826.0.1.3680043.2.1125.2"


def _series(folder: Path, uid: str = "1.2.826.0.1.3680043.2.1125.1", prefix: str = "slice") -> list:
    folder.mkdir(exist_ok=True)
    g = geometry_for(np.eye(3), shape_kji=(4, 32, 32))
    array = np.random.default_rng(0).normal(0, 200, g.array_shape).astype(np.float32)
    return [Path(name) for name in write_dicom_series(folder, array, g, series_uid=uid, prefix=prefix)]


def _digests(paths) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_check_output_path_refuses_a_file_of_the_input_series(tmp_path):
    names = _series(tmp_path / "series")
    with pytest.raises(InputError, match="input DICOM series") as caught:
        check_output_path(names[2], names[0])
    assert str(names[2]) in str(caught.value) and "choose another output" in str(caught.value)
    other = _series(tmp_path / "series", uid=OTHER, prefix="other")
    assert check_output_path(other[1], names[0]) == other[1]  # another series of the folder is not the input
    with pytest.raises(InputError, match="input DICOM series"):  # ... unless it is the series chosen to be read
        check_output_path(other[1], names[0], series=OTHER)
    assert check_output_path(names[1], names[0], series=OTHER) == names[1]
    assert check_output_path(tmp_path / "series" / "new.dcm", names[0]) == tmp_path / "series" / "new.dcm"
    elsewhere = _series(tmp_path / "copy")  # the same series copied elsewhere is not read with this input
    assert check_output_path(elsewhere[2], names[0]) == elsewhere[2]


@pytest.mark.parametrize("option", ["-o", "--dicom-seg"])
def test_sdseg_keeps_every_file_of_the_input_series(tmp_path, tiny_folder, capsys, option):  # noqa: F811
    pytest.importorskip("highdicom")
    names = _series(tmp_path / "series")
    before = _digests(names)
    target = names[2]
    outputs = [option, target] if option == "-o" else ["-o", tmp_path / "seg.seg.nrrd", option, target]
    code, _, err = run(["segment", names[0], "--model", tiny_folder, "--quiet", *outputs], capsys)
    assert code == EXIT_USAGE, err
    assert "input DICOM series" in err and str(target) in err
    assert _digests(names) == before
    assert sorted(p.name for p in (tmp_path / "series").iterdir()) == sorted(before)  # no temporary file left
    assert not (tmp_path / "seg.seg.nrrd").exists()


def test_a_rerun_replaces_its_own_dicom_seg_beside_the_series(tmp_path, tiny_folder, capsys):  # noqa: F811
    pytest.importorskip("highdicom")
    names = _series(tmp_path / "series")
    before = _digests(names)
    target = tmp_path / "series" / "result.dcm"
    for _ in range(2):  # the SEG written first has a series of its own: not the input, so it may be replaced
        code, _, err = run(["segment", names[0], "--model", tiny_folder, "--quiet", "-o", target], capsys)
        assert code == EXIT_OK, err
    assert target.is_file() and _digests(names) == before


def test_sdseg_keeps_the_files_of_the_series_chosen_with_series(tmp_path, tiny_folder, capsys):  # noqa: F811
    pytest.importorskip("highdicom")
    names = _series(tmp_path / "series")
    other = _series(tmp_path / "series", uid=OTHER, prefix="other")
    before = _digests(names + other)
    code, _, err = run(["segment", names[0], "--series", OTHER, "--model", tiny_folder, "--quiet", "-o", other[1]],
                       capsys)
    assert code == EXIT_USAGE and "input DICOM series" in err, err
    assert _digests(names + other) == before
