"""``--format`` that contradicts the ending of a file ``-o`` is refused, not silently ignored.

``sdseg segment ct.nrrd -o out.nrrd --format nii.gz`` wrote a NRRD file and exited 0: the ending
chose the format and ``--format`` (the format of outputs written into a folder) was dropped.
"""

from __future__ import annotations

import pytest
from cli_segment_fixtures import crop, isolated_home, run, tiny_folder  # noqa: F401 (fixtures)

from SDSegLogic.io.sniff import detect_format


@pytest.mark.parametrize("name,fmt", [("out.nrrd", "nii.gz"), ("out.seg.nrrd", "nrrd"), ("out.nii.gz", "mha"),
                                      ("out.mha", "seg.nrrd")])
def test_a_format_contradicting_the_file_ending_is_a_usage_error(tiny_folder, crop, tmp_path, capsys, name, fmt):
    code, _, err = run(["segment", crop, "-o", tmp_path / name, "--format", fmt, "--model", tiny_folder], capsys)
    assert code == 2 and f"--format {fmt}" in err and name in err, err
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name,fmt", [("out.nii.gz", "nii.gz"), ("OUT.SEG.NRRD", "seg.nrrd"), ("out.nrrd", None)])
def test_a_matching_or_absent_format_still_writes_the_file(tiny_folder, crop, tmp_path, capsys, name, fmt):
    extra = ["--format", fmt] if fmt else []
    code, _, err = run(["segment", crop, "-o", tmp_path / name, "--model", tiny_folder, "--quiet", *extra], capsys)
    assert code == 0, err
    assert detect_format(tmp_path / name) == ("nifti" if name.endswith(".nii.gz") else "nrrd")


def test_folder_outputs_keep_the_default_and_the_given_format(tiny_folder, crop, tmp_path, capsys):
    code, _, err = run(["segment", crop, "-o", f"{tmp_path / 'a'}/", "--model", tiny_folder, "--quiet"], capsys)
    assert code == 0 and (tmp_path / "a" / "crop.seg.nrrd").is_file(), err
    code, _, err = run(["segment", crop, "-o", f"{tmp_path / 'b'}/", "--format", "mha", "--model", tiny_folder, "--quiet"],
                       capsys)
    assert code == 0 and (tmp_path / "b" / "crop.mha").is_file(), err
