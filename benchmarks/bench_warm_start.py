"""Engine start-up time: process start to the first slices done, cold and warm compile cache.

Starts the real engine process (``python -m SDSegLogic.server``) the way the Slicer module does,
and times, from ``Popen`` to its ``ready`` line (printed after the model is loaded, the compile
policy applied and one warm-up batch segmented; with compiled kernels the warm-up batch is large
enough to run them):

1. ``eager``: ``--compile off`` (the baseline);
2. ``aot cold``: ``--compile aot`` with an empty cache (exports and compiles the packages);
3. ``aot warm``: ``--compile auto`` (the engine's default) in a new process, which loads the
   packages from the cache and never builds: if the cold build failed, this row costs a normal
   start instead of a second build, and says so (``packages_used`` false).

The engine's ``ready`` line says whether compiled packages run (``compiled_rows``, ``None`` when
eager); each row records it. The JSON is rewritten after every row, so a run stopped by a time
limit keeps the rows it finished; a SIGTERM (``timeout``, as ``gpu_session.sh`` uses) also
records the engine it interrupts, with ``stopped`` and the tail of that engine's log (which says,
for a cold build, which networks were compiled and how long each took).

Usage::

    python benchmarks/bench_warm_start.py --model Resources/Models/sdseg-demo-ct-lite --device cuda
    python benchmarks/bench_warm_start.py --model DIR --device cpu --runs eager      # quick CPU check

Prints a table and writes JSON (``--json``). The cache lives in a temporary ``SDSEG_HOME``
unless ``--home`` names one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_measure import write_result  # noqa: E402


class Stopped(Exception):
    """A termination signal arrived (the GPU session's step timeout) while an engine was starting."""


def _stop_on_signal(signum, frame) -> None:
    signal.signal(signum, signal.SIG_IGN)  # once: the row and the JSON must still be written
    raise Stopped(signal.Signals(signum).name)


def start_engine(model: Path, device: str, compile_policy: str, home: Path, timeout_s: float,
                 extra_env: Optional[Dict[str, str]] = None) -> Dict[str, object]:
    """Run one engine process until ``ready`` (or failure); return timings and its log tail.

    A :class:`Stopped` raised while waiting (see :func:`main`'s SIGTERM handler) ends the wait:
    the engine is killed at once and the row says ``stopped`` (the signal's name).
    """
    env = dict(os.environ, SDSEG_HOME=str(home), SDSEG_BENCH_TOKEN="bench-token-" + os.urandom(12).hex(), PYTHONUNBUFFERED="1")
    env.update(extra_env or {})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-m", "SDSegLogic.server", "--model", str(model), "--device", device,
           "--compile", compile_policy, "--token-env", "SDSEG_BENCH_TOKEN", "--log-level", "INFO"]
    log_path = home / f"engine-{compile_policy}-{time.time_ns()}.log"
    start = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=str(ROOT))
        ready: Optional[dict] = None
        stopped: Optional[str] = None
        try:
            deadline = start + timeout_s
            while time.perf_counter() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") == "ready":
                    ready = event
                    break
        except Stopped as exc:
            stopped = str(exc)
        finally:
            seconds = time.perf_counter() - start
            if stopped:
                proc.kill()  # the caller's time is up: no 20 s grace (timeout's --kill-after is shorter)
            else:
                proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-12:]
    return {"compile": compile_policy, "ready": ready is not None, "seconds_to_ready": round(seconds, 2),
            "packages_used": None if ready is None else ready.get("compiled_rows") is not None,
            "device": None if ready is None else ready.get("device"), "exit_code": proc.returncode,
            "startup_timings": None if ready is None else ready.get("startup_timings"), "env": extra_env or {},
            "stopped": stopped, "log": str(log_path), "log_tail": tail}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="model folder")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--runs", default="eager,aot-cold,aot-warm",
                        help="comma-separated, in order: eager, aot-cold, aot-warm, eager-no-autotune, "
                             "aot-warm-no-autotune (SDSEG_CUDNN_BENCHMARK=0); default: eager,aot-cold,aot-warm")
    parser.add_argument("--home", type=Path, default=None, help="SDSEG_HOME for the compile cache (default: a temp dir)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for each engine")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="sdseg-warm-start-"))
    home.mkdir(parents=True, exist_ok=True)
    no_tune = {"SDSEG_CUDNN_BENCHMARK": "0"}
    policies = {"eager": ("off", None), "aot-cold": ("aot", None), "aot-warm": ("auto", None),
                "eager-no-autotune": ("off", no_tune), "aot-warm-no-autotune": ("auto", no_tune)}
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in runs if r not in policies]
    if unknown:
        parser.error(f"unknown run {unknown[0]!r}; choose from {', '.join(policies)}")
    import torch

    result = {
        "benchmark": "sdseg-warm-start",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "model": str(args.model),
        "device": args.device,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "home": str(home),
        "rows": [],
    }
    rows = result["rows"]
    signal.signal(signal.SIGTERM, _stop_on_signal)
    for run in runs:
        policy, extra = policies[run]
        row = start_engine(args.model, args.device, policy, home, args.timeout, extra)
        row["run"] = run
        rows.append(row)
        print(f"{run:<22} ready={row['ready']!s:<5} {row['seconds_to_ready']:>8.2f} s  packages={row['packages_used']!s:<5} "
              f"{row['startup_timings']}{' STOPPED by ' + row['stopped'] if row['stopped'] else ''}", flush=True)
        if not row["ready"]:
            print("\n".join(row["log_tail"]), flush=True)
        write_result(result, args.json, f"warm-start-{args.device}.json")  # after every row: a killed run keeps them
        if row["stopped"]:
            return 128 + signal.SIGTERM  # the shell's code for a SIGTERM'd command; the rows are written
    return 0 if all(r["ready"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
