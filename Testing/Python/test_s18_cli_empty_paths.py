"""An empty path given to ``sdseg segment`` is refused by name, before the model loads.

``sdseg segment ct.nrrd -o "$OUT"`` with ``OUT`` unset used to take ``-o ''`` for the current folder
and write ``ct.seg.nrrd`` there (over any file of that name) with exit code 0; an empty INPUT was
taken for the current folder too and refused as "refusing to write over the input image ."; an empty
``--prob-map ''`` was silently ignored.
"""

from __future__ import annotations

import pytest
from cli_segment_fixtures import crop, events, isolated_home, run, tiny_folder  # noqa: F401 (fixtures)

from SDSegLogic.cli import EXIT_USAGE


@pytest.mark.parametrize("option", ["-o", "--prob-map", "--preview", "--uncertainty", "--dicom-seg"])
def test_an_empty_output_path_is_a_usage_error_naming_the_option(option, tiny_folder, crop, tmp_path, capsys,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["segment", crop, "-o", "o.seg.nrrd", "--model", tiny_folder, "--samples", "2", "--json"]
    argv = argv[:2] + [option, ""] + (argv[4:] if option == "-o" else argv[2:])
    code, out, _ = run(argv, capsys)
    stream = events(out)
    assert code == EXIT_USAGE and [e["event"] for e in stream] == ["error"]
    assert f"{option} ''" in stream[0]["message"] and "empty" in stream[0]["message"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written into the current folder


def test_an_empty_input_path_is_a_usage_error_naming_it(tiny_folder, crop, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(["segment", crop, "", "-o", "out/", "--model", tiny_folder, "--json"], capsys)
    stream = events(out)
    assert code == EXIT_USAGE and [e["event"] for e in stream] == ["error"]
    message = stream[0]["message"]
    assert "INPUT 2" in message and "empty" in message and "refusing to write over" not in message
