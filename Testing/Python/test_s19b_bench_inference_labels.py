"""What the inference benchmark's JSON says about the run it timed: random weights, AOT rows that ran eager.

The GPU session times a random-weights paper model folder (``make_random_model.py``) and, once the cold
build has run, the AOT rows with packages read from the cache only. A reader of ``results.json`` must be
able to tell from the JSON alone that those weights were random and whether an "AOT packages" row really
ran compiled networks (a failed or unfinished cold build leaves the cache empty and the row eager).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


def _load(name: str):
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_random_model_folder_and_empty_aot_cache_are_reported_as_such(tmp_path):
    folder = _load("make_random_model").make_random_model("tiny", tmp_path / "random-tiny")
    out = tmp_path / "inference.json"
    empty_cache = tmp_path / "compiled"
    empty_cache.mkdir()
    code = _load("bench_inference").main(["--model", str(folder), "--device", "cpu", "--slices", "2",
                                          "--reference-slices", "1", "--batch", "2", "--repeats", "1",
                                          "--aot-cache", str(empty_cache), "--aot-only", "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["weights"] == "random", "a make_random_model folder must not be reported as trained weights"
    aot_rows = [row for row in result["rows"] if "compile" in row]
    assert aot_rows, result["rows"]
    for row in aot_rows:
        assert row["aot_packages_used"] is False, row
        assert "eager" in row["variant"], f"the table must say this row ran eager: {row['variant']!r}"
