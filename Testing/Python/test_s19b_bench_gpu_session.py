"""The one GPU call's script under its deadline: every step, the background one included, obeys it.

``benchmarks/gpu_session.sh`` must end within ``SDSEG_DEADLINE_S``: the device allows 600 s per command,
and a step started past the deadline would hold the call past that limit and lose what comes back. Here
the deadline leaves no step its minimum, so every step must be listed as skipped in ``results.json`` and
nothing may run; the dry-run mode (``SDSEG_BENCH_DRY=1``) keeps the session on this machine's CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("inference-paper", "train-speed", "faithfulness-demo", "warm-start-cold", "inference-paper-aot",
         "warm-start-warm", "volume-paper", "volume-paper-host-post")


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_every_step_is_skipped_when_the_deadline_leaves_no_time(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    python_dir = str(Path(sys.executable).parent)  # the script runs `python3`: this interpreter's
    env = dict(os.environ, SDSEG_BENCH_DRY="1", SDSEG_DEADLINE_S="20", SDSEG_WORK_DIR=str(work),
               SDSEG_PAPER_MODEL=str(tmp_path / "no-model"), SDSEG_SITE=str(tmp_path / "site"),
               PATH=python_dir + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_session.sh"), str(out)], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "results.json").read_text(encoding="utf-8"))
    table = {row["step"]: row["rc"] for row in summary["steps"]}
    for name in STEPS:
        assert table.get(name) == "SKIP", f"{name} not skipped under a 20 s deadline: {table}\n{proc.stdout}"
    assert summary["results"] == {}, "no benchmark may have run"
    assert sorted(p.name for p in out.iterdir()) == ["logs.tgz", "results.json", "session.log"]
