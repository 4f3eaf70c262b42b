"""A malformed ``SDSEG_MAX_BYTES`` is a usage error reported once, before the model loads.

``SDSEG_MAX_BYTES=abc sdseg segment a.nrrd b.nrrd -o out/`` used to load the model, then fail every
input separately as an *input* error (exit code 3, "an input image is missing, unreadable or
unsupported"), although no input was at fault: the setting is read per input by the memory check.
"""

from __future__ import annotations

import shutil

import pytest
from cli_segment_fixtures import crop, events, isolated_home, run, tiny_folder  # noqa: F401 (fixtures)

from SDSegLogic.cli import EXIT_USAGE


@pytest.mark.parametrize("value", ["abc", "-5", "0"])
def test_a_bad_budget_setting_stops_the_run_once_before_the_model_loads(value, tiny_folder, crop, tmp_path, capsys,
                                                                        monkeypatch):
    second = shutil.copy(crop, tmp_path / "second.nrrd")
    monkeypatch.setenv("SDSEG_MAX_BYTES", value)
    code, out, err = run(["segment", crop, second, "-o", tmp_path / "out", "--model", tiny_folder, "--json"], capsys)
    stream = events(out)
    assert code == EXIT_USAGE, err
    assert [e["event"] for e in stream] == ["error"]  # no "start": the model was not loaded; no per-input errors
    message = stream[0]["message"]
    assert "SDSEG_MAX_BYTES" in message and value in message and "unset" in message
    assert not (tmp_path / "out").exists()


def test_a_valid_budget_setting_still_applies_per_input(tiny_folder, crop, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SDSEG_MAX_BYTES", "100000")  # far below what the 4-slice crop needs
    code, out, _ = run(["segment", crop, "-o", tmp_path / "o.seg.nrrd", "--model", tiny_folder, "--json"], capsys)
    stream = events(out)
    assert code == 3 and [e["event"] for e in stream] == ["start", "error", "done"]
    assert "memory budget" in stream[1]["message"]
