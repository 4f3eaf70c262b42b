"""Benchmarks under the GPU session's step time limits: what a stopped step keeps, what a step wastes.

``gpu_session.sh`` runs each benchmark under ``timeout`` (SIGTERM to the whole process group). On
the CPU with tiny models this checks that a benchmark stopped that way keeps what it measured, and
that the time-limited inference step spends its calls on measurements, not on repeated warm-ups.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
                PYTHONUNBUFFERED="1")


def test_inference_rows_are_on_disk_while_the_run_goes_on(tmp_path):
    """Each finished row is in the JSON before the next one runs (a step timeout keeps them), the
    headline rows run before the slow batch-1 row, and the table keeps its order."""
    folder = _load("make_random_model").make_random_model("tiny", tmp_path / "tiny-random", fast_decoder=True)
    out = tmp_path / "inference.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_inference.py"), "--model", str(folder), "--device", "cpu",
           "--slices", "4", "--batch", "4", "--reference-slices", "2", "--repeats", "1", "--threads", "1",
           "--fast-decoder", "--json", str(out)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = None
    deadline = time.monotonic() + 600
    while first is None and proc.poll() is None and time.monotonic() < deadline:
        if out.exists():
            first = json.loads(out.read_text())  # every read parses: the file is replaced atomically
        time.sleep(0.05)
    output = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, output[-3000:]
    assert first is not None, "the JSON appeared only once the whole run had ended"
    assert first.get("complete") is False and first["rows"][0]["variant"].startswith("reference")

    final = json.loads(out.read_text())
    assert final["complete"] is True
    bench = _load("bench_inference")
    table = [v.name for v in bench.engine_variants(torch.device("cpu"), 4, fast_decoder=True)]
    engine = [row for row in final["rows"] if row["variant"] in table]
    assert [row["variant"] for row in engine] == table  # table order, whatever order they ran in
    position = {row["variant"]: row["timed_position"] for row in engine}
    batch_one = position["engine fp32, batch 1"]
    assert position["engine fp32, batch 4"] < batch_one  # the CPU engine's own configuration
    assert position[next(name for name in table if "FAST DECODER" in name)] < batch_one
    assert batch_one == len(table) - 1


def test_on_cuda_the_engine_default_and_the_fast_decoder_are_timed_first():
    """The CUDA table (built without a GPU: no CUDA call is made) times what users get before the other
    levers, and the slow one-slice-per-call row last, so a step cut off at its limit keeps the headline rows."""
    bench = _load("bench_inference")
    variants = bench.engine_variants(torch.device("cuda"), 64, aot=True, fast_decoder=True)
    order = [variants[i].name for i in bench.timing_order(variants, torch.device("cuda"))]
    assert sorted(order) == sorted(v.name for v in variants)
    headline = [name for name in order if "AOT" in name or "FAST DECODER" in name
                or name.startswith("engine fp16 encoder/decoder + fp32 UNet + channels_last")]
    assert len(headline) == 4 and order[:4] == headline
    assert order[-1] == "engine fp32, batch 1"


def test_each_variant_is_warmed_up_once(tmp_path):
    """Per variant: one warm-up call (it also gives the soft maps compared with fp32), then the timed repeats."""
    from SDSegLogic.config import preset
    from SDSegLogic.models import SDSegModel

    bench = _load("bench_inference")
    unet_type = type(SDSegModel(preset("tiny")).unet)
    calls = []
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda module, inputs, output: calls.append(1) if type(module) is unet_type else None)
    args = argparse.Namespace(device="cpu", threads=1, model=None, preset="tiny", slices=4, batch=4, reference_slices=2,
                              repeats=1, images_npz=None, official_ldm=None, aot_cache=tmp_path / "empty-cache",
                              aot_build=False, aot_only=True, fast_decoder=False, compile=None,
                              json=tmp_path / "aot.json")
    try:
        result = bench.run(args)
    finally:
        handle.remove()
    engine_rows = [row for row in result["rows"] if "AOT" in row["variant"]]
    assert len(engine_rows) == 1 and "error" not in engine_rows[0]
    reference = (1 + args.repeats) * args.reference_slices  # best_time: one warm-up, then the repeats
    truth = 1  # the fp32 batch the variants are compared with: one call of 4 slices
    variant = 1 + args.repeats  # one warm-up call, then the repeats (one batch each)
    assert len(calls) == reference + truth + variant


def test_a_variant_runs_with_no_other_variant_alive(tmp_path):
    """Only the shared base model and the variant being timed hold networks while it runs: a previous
    variant (or the fp32 truth pipeline) still alive would sit in GPU memory and in every later row's
    ``peak_gpu_mib``."""
    import gc

    from SDSegLogic.config import preset
    from SDSegLogic.models import SDSegModel

    bench = _load("bench_inference")
    unet_type = type(SDSegModel(preset("tiny")).unet)
    alive = []

    def count(module, inputs, output):
        if type(module) is unet_type:
            alive.append(sum(1 for obj in gc.get_objects() if type(obj) is unet_type))

    gc.collect()  # UNets other tests' fixtures still hold (the whole suite runs in one process) are not counted
    before = sum(1 for obj in gc.get_objects() if type(obj) is unet_type)
    handle = torch.nn.modules.module.register_module_forward_hook(count)
    try:
        result = bench.main(["--smoke", "--json", str(tmp_path / "smoke.json")])
    finally:
        handle.remove()
    assert result == 0 and len(alive) > 10
    extra = [n - before for n in alive]
    assert max(extra) == 2, extra  # the base model the variants are copied from + the one running


def test_a_stopped_warm_start_keeps_the_engine_it_interrupted(tmp_path):
    """SIGTERM to the process group (what ``timeout`` sends) during a cold start: the JSON still gets
    that engine's row, marked stopped, with the tail of its log."""
    from cli_test_helpers import make_model_folder

    folder = make_model_folder(tmp_path / "tiny-test")
    home, out = tmp_path / "home", tmp_path / "warm.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_warm_start.py"), "--model", str(folder), "--device", "cpu",
           "--runs", "aot-cold", "--home", str(home), "--json", str(out), "--timeout", "600"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            logs = list(home.glob("engine-*.log")) if home.is_dir() else []
            if logs and logs[0].stat().st_size > 0:  # the engine is up and loading the model
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the engine finished before it could be stopped"
        os.killpg(proc.pid, signal.SIGTERM)
        output = proc.communicate(timeout=120)[0]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert out.exists(), output[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [row["run"] for row in rows] == ["aot-cold"]
    row = rows[0]
    assert row["ready"] or row["stopped"] == "SIGTERM", row
    assert row["log_tail"] and row["exit_code"] is not None
    if row["stopped"]:
        assert proc.returncode == 128 + signal.SIGTERM


def test_volume_benchmark_removes_its_scratch_folder(tmp_path):
    """The synthetic CT, the output and a random model live in a scratch folder that must not outlive the run
    (a 200-slice phantom is ~50 MB; ``--random-model paper`` writes 0.8 GB)."""
    from cli_test_helpers import make_model_folder

    folder = make_model_folder(tmp_path / "tiny-test")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out = tmp_path / "volume.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_volume.py"), "--model", str(folder), "--synthetic", "2",
           "--no-warmup", "--json", str(out)]
    proc = subprocess.run(cmd, env=dict(_env(), TMPDIR=str(scratch)), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert json.loads(out.read_text())["output_bytes"] > 0
    assert not list(scratch.glob("sdseg-bench-*"))
