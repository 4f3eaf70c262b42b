"""Model-folder load time in a fresh process: sha256 verification before vs overlapped with the build.

Each measurement is a new Python process (cold imports, as an engine start), run in turns:

1. ``sequential``: every weight file's sha256 first, then the load without verification (what
   ``load_model_folder`` did before the digests moved to worker threads);
2. ``overlapped``: ``load_model_folder(verify=True)``: digests on worker threads while diffusers is
   imported and the modules are built (the engine's path);
3. ``unverified``: ``load_model_folder(verify=False)``: the floor.

Times from the start of the child's ``import torch`` to the model being ready on ``--device``; the
file pages are in the OS cache after the first round (the warm-start case). Prints a table with
medians and the ratio to ``sequential``, and writes JSON.

Usage::

    python benchmarks/bench_model_load.py --model DIR --device cpu --repeats 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_measure import write_result  # noqa: E402
MODES = ("sequential", "overlapped", "unverified")

_CHILD = r"""
import json, sys, time
start = time.perf_counter()
import torch
from SDSegLogic.model_folder import load_model_folder, resolve_weight_files, stored_components
from SDSegLogic.weight_hashes import sha256_file
from SDSegLogic.config import SDSegConfig
from SDSegLogic.model_card import ModelCard
from pathlib import Path
mode, folder, device = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
imported = time.perf_counter()
hashed_first = 0
if mode == "sequential":
    card = ModelCard.from_json(folder / "model_card.json")
    config = SDSegConfig.from_json(folder / "config.json")
    files = resolve_weight_files(folder, card, None, stored_components(config))
    for path in files.values():
        sha256_file(path)
        hashed_first += 1
hashed = time.perf_counter()
model, _ = load_model_folder(folder, device=device, verify=(mode == "overlapped"))
if device.startswith("cuda"):
    torch.cuda.synchronize()
done = time.perf_counter()
print(json.dumps({"total_s": done - start, "import_torch_s": imported - start, "files_hashed_first": hashed_first,
                  "sequential_hash_s": hashed - imported, "load_s": done - hashed}))
"""


def run_child(mode: str, model: Path, device: str) -> Dict[str, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, str(model), device], capture_output=True, text=True,
                         env=env, cwd=str(ROOT), check=False)
    if out.returncode != 0:
        raise SystemExit(f"{mode}: child failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="model folder")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each round runs every mode once")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    run_child("unverified", args.model, args.device)  # fills the OS file cache
    rows: Dict[str, List[Dict[str, float]]] = {m: [] for m in MODES}
    for round_index in range(args.repeats):
        order = MODES if round_index % 2 == 0 else tuple(reversed(MODES))
        for mode in order:
            rows[mode].append(run_child(mode, args.model, args.device))
    medians = {m: statistics.median(r["total_s"] for r in rows[m]) for m in MODES}
    weights_mb = sum(p.stat().st_size for p in args.model.glob("*.safetensors")) / 1e6
    print(f"model {args.model} ({weights_mb:.0f} MB of weight files), device {args.device}, {args.repeats} rounds")
    print(f"{'mode':<12} {'median s':>9} {'min s':>7} {'max s':>7} {'x sequential':>13}")
    for mode in MODES:
        totals = [r["total_s"] for r in rows[mode]]
        print(f"{mode:<12} {medians[mode]:>9.2f} {min(totals):>7.2f} {max(totals):>7.2f} "
              f"{medians['sequential'] / medians[mode]:>13.2f}")
    result = {"benchmark": "sdseg-model-load", "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "model": str(args.model),
              "weights_mb": round(weights_mb, 1), "device": args.device, "python": platform.python_version(),
              "cpu_count": os.cpu_count(), "median_total_s": {m: round(v, 3) for m, v in medians.items()}, "runs": rows}
    write_result(result, args.json, f"model-load-{args.device}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
