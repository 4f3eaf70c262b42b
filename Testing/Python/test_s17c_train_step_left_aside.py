"""A step checkpoint left aside (``.step-<n>.old``) by a crash while it was replaced is the run's latest checkpoint.

``write_folder_atomically`` renames ``step-<n>`` aside before the new one takes its place; a crash between the two
renames leaves ``.step-<n>.old`` and no ``step-<n>`` (e.g. ``train.keep_checkpoints: 1`` and a run resumed from
``best`` that reaches step n again). ``--resume auto`` then refused the folder with the message for a lone ``best``,
naming a ``best`` folder that need not exist, and ``--checkpoint latest`` found nothing; both now put the step back
and continue from it, as ``load_checkpoint`` does for the folder it is given."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.evaluate import checkpoint_folder  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402
from test_s17b_train_lone_best_kept import copied_run, trained  # noqa: E402,F401 - trained is a pytest fixture


def _step_aside(trained, tmp_path: Path, keep_best: bool):
    """A copy of the run whose only step checkpoint was set aside mid-swap (``best`` kept or not)."""
    base, checkpoints = copied_run(trained, tmp_path)
    (step,) = sorted(checkpoints.glob("step-*"))
    os.replace(step, checkpoints / f".{step.name}.old")
    (checkpoints / f".{step.name}.tmp").mkdir()  # the new folder, half written when the crash came
    if not keep_best:
        shutil.rmtree(checkpoints / "best")
    weights = (checkpoints / f".{step.name}.old" / "model.safetensors").read_bytes()
    return base, step, weights


@pytest.mark.parametrize("keep_best", [False, True])
def test_default_resume_continues_from_a_step_left_aside(trained, tmp_path, keep_best):
    base, step, weights = _step_aside(trained, tmp_path, keep_best)
    trainer = Stage2Trainer(load_config(None, [*base, "train.max_steps=4"]), resume="auto")
    assert trainer.resumed_from == step and trainer.step == 2
    assert (step / "model.safetensors").read_bytes() == weights


def test_eval_latest_finds_a_step_left_aside(trained, tmp_path):
    base, step, weights = _step_aside(trained, tmp_path, keep_best=False)
    assert checkpoint_folder(step.parent.parent, "latest") == step
    assert (step / "model.safetensors").read_bytes() == weights
