"""``sdseg segment --precision fp16 --device cpu`` warns where fp16 runs emulated on this CPU."""

from __future__ import annotations

import json

from cli_segment_fixtures import crop, isolated_home, run, tiny_folder  # noqa: F401 - fixtures

from SDSegLogic.device import cpu_has_native_fp16


def test_fp16_on_a_cpu_without_native_fp16_warns(tiny_folder, crop, tmp_path, capsys):  # noqa: F811
    """The start event (and stderr) carry the emulated-fp16 warning exactly where fp16 is not native."""
    target = tmp_path / "a.seg.nrrd"
    code, out, err = run(["segment", str(crop), "-o", str(target), "--model", str(tiny_folder), "--device", "cpu",
                          "--precision", "fp16", "--slices", "0:1", "--json"], capsys)
    assert code == 0 and target.is_file(), err
    start = next(e for e in map(json.loads, out.splitlines()) if e["event"] == "start")
    assert ("warnings" in start) != cpu_has_native_fp16()
    if "warnings" in start:
        assert "fp16" in start["warnings"][0] and "use --precision auto" in start["warnings"][0]


def test_fp32_on_the_cpu_gives_no_precision_warning(tiny_folder, crop, tmp_path, capsys):  # noqa: F811
    """--precision auto on the CPU (fp32) has nothing to warn about."""
    code, out, err = run(["segment", str(crop), "-o", str(tmp_path / "b.seg.nrrd"), "--model", str(tiny_folder),
                          "--device", "cpu", "--slices", "0:1", "--json"], capsys)
    assert code == 0, err
    start = next(e for e in map(json.loads, out.splitlines()) if e["event"] == "start")
    assert "warnings" not in start
