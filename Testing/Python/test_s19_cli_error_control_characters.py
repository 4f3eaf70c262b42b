"""Errors and notes about a file whose name holds control characters reach stderr escaped, not raw.

A name such as ``ev<ESC>[31mil<CR>name.nrrd`` written raw recolours the terminal or overwrites the line
when the log is read; the progress bar and summaries escaped them, the error line did not.
"""

from __future__ import annotations

from cli_segment_fixtures import run

CONTROL = {chr(code) for code in range(32) if chr(code) != "\n"} | {"\x7f"}


def test_an_error_about_a_missing_file_with_control_characters_is_escaped(tmp_path, capsys):
    missing = tmp_path / "ev\x1b[31mil\rname.nrrd"
    code, _, err = run(["segment", missing, "-o", tmp_path / "out.seg.nrrd", "--quiet"], capsys)
    assert code == 3, err
    assert "\\x1b" in err, err
    assert not CONTROL & set(err), sorted(CONTROL & set(err))


def test_a_score_error_is_escaped_in_json_mode_too(tmp_path, capsys):
    missing = tmp_path / "a\x1bb.nrrd"
    code, _, err = run(["score", missing, tmp_path / "ref.nrrd", "--json"], capsys)
    assert code != 0
    assert "\\x1b" in err and not CONTROL & set(err), err
