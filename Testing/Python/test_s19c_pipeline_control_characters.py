"""A file name with control characters (an escape sequence, a carriage return) cannot corrupt a log or terminal.

``sdseg segment`` writes the input and output names in its progress lines, warnings and summary; in
a log file (stderr is not a terminal) those lines must hold no control character but the newline.
"""

from __future__ import annotations

import io
import os
import shutil

import pytest
from cli_segment_fixtures import crop, isolated_home, run, tiny_folder  # noqa: F401 (fixtures)

from SDSegLogic.progress import ProgressEvent, TextProgressBar

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file names with control characters (POSIX)")
NAME = "ev\x1b[31mil\rname"


def _controls(text: str) -> set:
    return {ch for ch in text if (ord(ch) < 32 and ch != "\n") or 0x7F <= ord(ch) < 0xA0}


def test_a_segment_run_logs_no_control_character_of_a_file_name(tiny_folder, crop, tmp_path, capsys):
    source = shutil.copy(crop, tmp_path / f"{NAME}.nrrd")
    code, out, err = run(["segment", source, "-o", f"{tmp_path / 'results'}/", "--model", tiny_folder, "--device", "cpu"],
                         capsys)
    assert code == 0, err
    assert (tmp_path / "results" / f"{NAME}.seg.nrrd").is_file()  # the file itself keeps its name
    assert "done in" in err and "ev" in err and "slices" in err
    assert _controls(err) == set(), err
    assert _controls(out) == set(), out
    assert "\\x1b" in err and "\\r" in err  # shown as escapes, so the name can still be recognised


def test_the_text_bar_escapes_control_characters_in_names_and_messages():
    stream = io.StringIO()
    bar = TextProgressBar(stream, interactive=False)
    bar(ProgressEvent("progress", volume=1, volumes=1, input=f"/data/{NAME}.nrrd", done=1, total=2))
    bar(ProgressEvent("error", volume=1, volumes=1, input=f"/data/{NAME}.nrrd",
                      message=f"/data/{NAME}.nrrd: cannot read\x07 it"))
    bar(ProgressEvent("volume_done", volume=1, volumes=1, input=f"/data/{NAME}.nrrd", done=2, total=2,
                      outputs={"segmentation": f"/out/{NAME}.seg.nrrd"}))
    text = stream.getvalue()
    assert _controls(text) == set(), repr(text)
    assert text.count("\n") == 3 and "\\x07" in text
