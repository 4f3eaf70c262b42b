"""Two outputs that name one file through a symbolic link are refused before any work.

``sdseg segment ct.nrrd -o out/x.nrrd --prob-map link/x.nrrd`` (``link`` -> ``out``) used to exit 0,
reporting both outputs written, while the segmentation, renamed last, had replaced the probability
map: one output was lost.
"""

from __future__ import annotations

import os

import pytest
from cli_segment_fixtures import crop, isolated_home, run, tiny_folder  # noqa: F401 - fixtures

from SDSegLogic.cli import EXIT_USAGE


@pytest.fixture()
def linked(tmp_path):
    """(out, link): an empty folder and a symbolic link to it."""
    out, link = tmp_path / "out", tmp_path / "link"
    out.mkdir()
    try:
        os.symlink(out, link, target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("this system cannot make symbolic links")
    return out, link


@pytest.mark.parametrize("option", ["--prob-map", "--uncertainty"])
def test_one_file_named_through_a_linked_folder_is_refused(linked, crop, tiny_folder, capsys, option):  # noqa: F811
    out, link = linked
    code, _, err = run(["segment", crop, "--model", tiny_folder, "--samples", "2", "-o", out / "x.nrrd",
                        option, link / "x.nrrd"], capsys)
    assert code == EXIT_USAGE, err
    assert "used for both" in err and "choose distinct names" in err
    assert list(out.iterdir()) == []  # refused before the model loaded: nothing written


def test_an_output_over_the_input_through_a_linked_folder_is_refused(tmp_path, crop, tiny_folder, capsys):  # noqa: F811
    source = crop.parent
    link = tmp_path / "input-link"
    try:
        os.symlink(source, link, target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("this system cannot make symbolic links")
    before = crop.read_bytes()
    code, _, err = run(["segment", crop, "--model", tiny_folder, "-o", link / crop.name], capsys)
    assert code == EXIT_USAGE and "input" in err, err
    assert crop.read_bytes() == before
