"""``heldout summarize`` finds a stage-2 ``best`` left aside (``.best.old``) by a crash while it was replaced, as
``sdseg-eval`` does (it is put back), instead of reporting the run as having no stage 2."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.heldout import summarize_run  # noqa: E402
from test_training_run_checks import PHANTOM, train_phantom  # noqa: E402


def test_summary_of_a_run_whose_best_was_left_aside(tmp_path):
    root, _ = train_phantom(tmp_path / "train", PHANTOM)
    outdir = tmp_path / "gpu-run"
    outdir.mkdir()
    shutil.copytree(root / "s2", outdir / "stage2")
    whole = summarize_run(outdir)["stage2"]
    checkpoints = outdir / "stage2" / "checkpoints"
    os.replace(checkpoints / "best", checkpoints / ".best.old")  # a kill between the two renames of best's swap
    (checkpoints / ".best.tmp").mkdir()
    summary = summarize_run(outdir)
    assert summary.get("stage2") == whole, summary
    assert (checkpoints / "best" / "state.json").is_file()
