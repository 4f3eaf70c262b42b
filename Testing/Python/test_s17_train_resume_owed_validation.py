"""A crash while validating a run's last step (after its checkpoint was saved): the resume validates that step and
writes ``best``, instead of finding nothing left to train and ending without a selected model."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402
from test_training_run_checks import PHANTOM, train_phantom  # noqa: E402


def test_resume_after_a_crash_in_the_last_validation_validates_and_selects(tmp_path):
    root, base = train_phantom(tmp_path, PHANTOM)
    checkpoints = root / "s2" / "checkpoints"
    validated = json.loads((checkpoints / "best" / "state.json").read_text())
    # the files a crash inside validate() at step 2 leaves: step 2 saved before validating, no best yet
    shutil.rmtree(checkpoints / "best")
    step = checkpoints / "step-00000002" / "state.json"
    state = json.loads(step.read_text())
    state.update(best={"metric": None, "step": None}, history=[])
    step.write_text(json.dumps(state, indent=1) + "\n")

    result = Stage2Trainer(load_config(None, base), resume="auto").run()
    assert result["step"] == 2 and result["best"] == validated["best"]  # the same weights validate the same
    best = json.loads((checkpoints / "best" / "state.json").read_text())
    assert best["step"] == 2 and best["best"] == validated["best"]
    recorded = json.loads(step.read_text())
    assert recorded["best"] == validated["best"] and [h["step"] for h in recorded["history"]] == [2]


def test_resume_of_a_validated_last_step_does_not_validate_again(tmp_path):
    root, base = train_phantom(tmp_path, PHANTOM)
    trainer = Stage2Trainer(load_config(None, base), resume="auto")
    trainer.run()
    assert [h["step"] for h in trainer.history] == [2]
