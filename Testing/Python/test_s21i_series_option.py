"""``sdseg segment --series UID`` on inputs that are not DICOM: refused before the model loads, not ignored silently.

A NRRD, NIfTI, MetaImage or picture holds one image, so a series UID given for it is a mistake (a DICOM folder was
meant); a run that has a DICOM input uses it there, and its other inputs ignore it, as 3-D inputs ignore --frame.
"""

from __future__ import annotations

from cli_segment_fixtures import crop, isolated_home, run, tiny_folder  # noqa: F401 - fixtures

from SDSegLogic.cli import EXIT_USAGE


def test_series_with_only_a_nrrd_input_is_refused_naming_the_file(tiny_folder, crop, tmp_path, capsys):
    out = tmp_path / "o.seg.nrrd"
    code, stdout, err = run(["segment", crop, "-o", out, "--model", tiny_folder, "--series", "1.2.3", "--quiet"],
                            capsys)
    assert code == EXIT_USAGE
    assert "--series 1.2.3" in err and str(crop) in err and "NRRD" in err and "leave --series out" in err
    assert not out.exists()


def test_a_nrrd_without_series_is_segmented(tiny_folder, crop, tmp_path, capsys):
    out = tmp_path / "o.seg.nrrd"
    code, _, err = run(["segment", crop, "-o", out, "--model", tiny_folder, "--quiet", "--slices", "0:1"], capsys)
    assert code == 0, err
    assert out.exists()
