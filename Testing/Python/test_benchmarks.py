"""Benchmark scripts on the CPU: inference smoke mode, volume stages, engine start-up, model loading."""

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
    assert result["probabilities_kept"] is False  # like a plain `sdseg segment`
    device = tmp_path / "volume-device.json"
    assert bench.main(["--model", str(folder), "--synthetic", "3", "--postprocess", "device", "--no-warmup",
                       "--json", str(device)]) == 0
    assert json.loads(device.read_text())["postprocess"] == "device"


def test_warm_start_benchmark_times_the_real_engine_process(tmp_path):
    """The engine process really starts (eager, with and without cuDNN autotuning) and reports its timings."""
    from cli_test_helpers import make_model_folder

    bench = _load("bench_warm_start", ROOT / "benchmarks" / "bench_warm_start.py")
    folder = make_model_folder(tmp_path / "tiny-test")
    out = tmp_path / "warm.json"
    assert bench.main(["--model", str(folder), "--device", "cpu", "--runs", "eager,eager-no-autotune",
                       "--home", str(tmp_path / "home"), "--json", str(out), "--timeout", "120"]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["run"] for r in rows] == ["eager", "eager-no-autotune"]
    assert all(r["ready"] and r["seconds_to_ready"] > 0 for r in rows)
    assert set(rows[0]["startup_timings"]) == {"import_s", "load_s", "compile_s", "warmup_s"}
    assert rows[1]["env"] == {"SDSEG_CUDNN_BENCHMARK": "0"} and rows[0]["env"] == {}
    assert rows[0]["packages_used"] is False  # the ready line says the engine runs eagerly


def test_warm_start_benchmark_never_builds_in_its_warm_rows(tmp_path):
    """'aot-warm' uses the engine's default policy (cached packages only): with an empty cache it starts
    eagerly, quickly, instead of building packages, and the row says no packages ran."""
    from cli_test_helpers import make_model_folder

    bench = _load("bench_warm_start", ROOT / "benchmarks" / "bench_warm_start.py")
    folder = make_model_folder(tmp_path / "tiny-test")
    out = tmp_path / "warm.json"
    assert bench.main(["--model", str(folder), "--device", "cpu", "--runs", "aot-warm", "--home", str(tmp_path / "home"),
                       "--json", str(out), "--timeout", "120"]) == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["compile"] == "auto" and row["ready"] and row["packages_used"] is False
    assert not (tmp_path / "home" / "compiled").exists() or not any((tmp_path / "home" / "compiled").rglob("*.pt2"))


def test_random_model_folder_loads_and_says_it_is_random(tmp_path):
    bench = _load("make_random_model", ROOT / "benchmarks" / "make_random_model.py")
    folder = bench.make_random_model("tiny", tmp_path / "random", fast_decoder=True)
    from SDSegLogic.pipeline import SDSegPipeline

    pipe = SDSegPipeline.from_pretrained(folder, device="cpu", fast_decoder=True)
    assert "random weights" in pipe.model_card.task and pipe.model.fast_decoder is not None
    assert json.loads((folder / "model_card.json").read_text())["weights"], "sha256 of every weight file recorded"


def test_model_load_benchmark_times_each_verification_mode_in_fresh_processes(tmp_path, capsys):
    from engine_test_helpers import tiny_card, tiny_model

    from SDSegLogic.model_folder import save_model_folder

    bench = _load("bench_model_load", ROOT / "benchmarks" / "bench_model_load.py")
    folder = save_model_folder(tmp_path / "m", tiny_model(), tiny_card())
    out = tmp_path / "load.json"
    assert bench.main(["--model", str(folder), "--repeats", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["median_total_s"]) == {"sequential", "overlapped", "unverified"}
    sequential = result["runs"]["sequential"][0]
    assert sequential["sequential_hash_s"] > 0 and sequential["total_s"] >= sequential["load_s"]
    assert sequential["files_hashed_first"] == 3  # unet, condition encoder, autoencoder, before the load
    assert result["runs"]["overlapped"][0]["files_hashed_first"] == 0  # hashed beside the build instead
    assert "x sequential" in capsys.readouterr().out


def test_read_benchmark_compares_the_engine_with_simpleitk_in_fresh_processes(tmp_path, capsys):
    bench = _load("bench_read", ROOT / "benchmarks" / "bench_read.py")
    out = tmp_path / "read.json"
    assert bench.main(["--slices", "3", "--size", "32", "--repeats", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["shape_kji"] == [3, 32, 32] and result["engine_deflate"] in ("zlib-ng", "zlib")
    assert set(result["median_s"]["ct.nii.gz"]) == {"itk", "two-pass", "engine-zlib", "engine"}
    assert set(result["median_s"]["ct.nii"]) == {"itk", "two-pass", "engine"}
    assert set(result["median_s"]["ct.nrrd"]) == {"itk", "engine-zlib", "engine"}
    sums = {run["sum"] for rows in result["runs"]["ct.nii.gz"].values() for run in rows}
    assert len(sums) == 1  # every path read the same voxels
    assert "x two-pass" in capsys.readouterr().out


def test_engine_receive_benchmark_compares_both_receives_on_the_same_bytes(tmp_path, capsys):
    bench = _load("bench_engine_receive", ROOT / "benchmarks" / "bench_engine_receive.py")
    out = tmp_path / "receive.json"
    assert bench.main(["--mib", "2", "--repeats", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["median_s"]) == {"old", "new"} and result["body_mib"] == 2
    assert min(result["peak_traced_mib"].values()) >= 2.0  # both hold the whole body
    assert result["time_ratio_old_over_new"] > 0 and result["peak_ratio_old_over_new"] > 0
    assert "old/new" in capsys.readouterr().out
