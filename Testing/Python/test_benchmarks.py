"""The inference benchmark's CPU smoke mode runs and reports every lever with faithfulness numbers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_inference_benchmark_smoke_mode_writes_json(tmp_path, capsys):
    bench = _load("bench_inference", ROOT / "benchmarks" / "bench_inference.py")
    out = tmp_path / "result.json"
    assert bench.main(["--smoke", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = {row["variant"]: row for row in result["rows"]}
    assert result["preset"] == "tiny" and result["device"]["type"] == "cpu"
    reference = next(r for name, r in rows.items() if name.startswith("reference"))
    assert reference["speedup_vs_reference"] == 1.0
    fp32 = [r for name, r in rows.items() if name.startswith("engine fp32")]
    assert fp32 and all(r["softmap_max_abs_vs_fp32"] == 0.0 and r["mask_dice_vs_fp32"] == 1.0 for r in fp32)
    bf16 = next(r for name, r in rows.items() if "bfloat16" in name)
    assert 0.0 < bf16["softmap_max_abs_vs_fp32"] < 0.5
    assert "ms/slice" in capsys.readouterr().out


def test_volume_benchmark_times_every_stage(tmp_path):
    from engine_test_helpers import tiny_card, tiny_model

    from SDSegLogic.model_folder import save_model_folder

    bench = _load("bench_volume", ROOT / "benchmarks" / "bench_volume.py")
    folder = save_model_folder(tmp_path / "model", tiny_model(), tiny_card())
    out = tmp_path / "volume.json"
    assert bench.main(["--model", str(folder), "--synthetic", "3", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["shape_kji"] == [3, 512, 512]
    assert set(result["stages_s"]) >= {"read", "plan", "network", "pre/post-processing", "write .seg.nrrd"}
    assert 0.0 < result["io_and_planning_share"] < 1.0
    assert result["peak_rss_mib"] > 0 and result["output_bytes"] > 0
