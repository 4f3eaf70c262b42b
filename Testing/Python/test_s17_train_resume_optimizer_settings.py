"""A resume with changed ``optim.betas`` / ``optim.weight_decay`` trains with them, as the resumed-config record says,
instead of the values the optimizer state brought from the checkpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402
from test_training_run_checks import PHANTOM, train_phantom  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_phantom(tmp_path_factory.mktemp("optim"), PHANTOM)


def test_resume_applies_changed_betas_and_weight_decay(run):
    root, base = run
    recorded = json.loads((root / "s2" / "checkpoints" / "step-00000002" / "state.json").read_text())
    assert recorded["optimizer"]["param_groups"][0]["weight_decay"] == 0.01  # the run's own setting (the default)
    changed = ["optim.weight_decay=0.2", "optim.betas=[0.8, 0.95]", "train.max_steps=3"]
    trainer = Stage2Trainer(load_config(None, base + changed), resume="auto")
    assert trainer.step == 2
    for group in trainer.optimizer.param_groups:
        assert group["weight_decay"] == 0.2 and tuple(group["betas"]) == (0.8, 0.95)
    trainer.run()
    saved = json.loads((root / "s2" / "checkpoints" / "step-00000003" / "state.json").read_text())
    assert saved["config"]["optim"]["weight_decay"] == saved["optimizer"]["param_groups"][0]["weight_decay"] == 0.2


def test_resume_with_unchanged_settings_keeps_them(run):
    root, base = run
    trainer = Stage2Trainer(load_config(None, base), resume=str(root / "s2" / "checkpoints" / "step-00000002"))
    assert all(g["weight_decay"] == 0.01 and tuple(g["betas"]) == (0.9, 0.999) for g in trainer.optimizer.param_groups)
