"""benchmarks/gpu_session.sh as a device call sees it: what comes back from $OUT.

A device call brings back at most 8 files from $OUT (16 MiB each, at most two folders down, names
of letters, digits, '.', '_' and '-'; /work/.library/device/README.md). The session makes a log and
a JSON per step, so the results must come back packed. This runs a few real steps of the script on
the CPU with the tiny preset (its dry-run mode) and checks the folder a device call would return.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVICE_MAX_FILES = 8
DEVICE_MAX_BYTES = 16 * 2**20
DEVICE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def _run_session(tmp_path: Path, steps: str, deadline: int = 400) -> Path:
    out = tmp_path / "out"
    env = dict(os.environ, SDSEG_PRESET="tiny", SDSEG_DEVICE="cpu", SDSEG_STEPS=steps, SDSEG_DEADLINE_S=str(deadline),
               SDSEG_WORK_DIR=str(tmp_path / "work"),
               SDSEG_PAPER_MODEL=str(tmp_path / "tiny-random"), SDSEG_VOLUME_SLICES="2")
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_session.sh"), str(out)], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=deadline + 60)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_every_step_comes_back_within_the_device_file_limits(tmp_path):
    out = _run_session(tmp_path, "volume-paper,volume-paper-host-post,train-speed")
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) <= DEVICE_MAX_FILES, sorted(p.name for p in files)
    for path in files:
        relative = path.relative_to(out)
        assert len(relative.parts) <= 3 and all(DEVICE_NAME.match(part) for part in relative.parts), relative
        assert path.stat().st_size <= DEVICE_MAX_BYTES, relative

    summary = json.loads((out / "results.json").read_text())
    steps = {row["step"]: row["rc"] for row in summary["steps"]}
    assert steps["make-paper-model"] == "0" and steps["inference-paper"] == "OFF"
    assert steps["volume-paper"] == "0" and steps["volume-paper-host-post"] == "0", summary["steps"]
    results = summary["results"]
    assert results["volume_paper"]["benchmark"] == "sdseg-volume"
    assert results["volume_paper_host_post"]["postprocess"] == "host"
    if steps["train-speed"] == "0":  # a loaded CPU may run it past its limit; its log still comes back
        assert results["train_speed"]["benchmark"] == "sdseg-train-step"
    with tarfile.open(out / "logs.tgz") as tar:
        names = set(tar.getnames())
    assert {"volume-paper.log", "volume_paper.json", "train-speed.log", "steps.tsv"} <= names, names
    assert "END   volume-paper rc=0" in (out / "session.log").read_text()


def test_a_work_folder_inside_out_is_refused(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, SDSEG_WORK_DIR=str(out / "work"), SDSEG_PRESET="tiny", SDSEG_DEVICE="cpu",
               SDSEG_STEPS="no-such-step", SDSEG_PAPER_MODEL=str(tmp_path / "model"), SDSEG_HOME=str(tmp_path / "home"))
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_session.sh"), str(out)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "must not be inside OUTDIR" in proc.stderr
