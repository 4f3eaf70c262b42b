"""A run that reaches its step limit says so, even when the time budget ran out at the same step.

Stage 1 and stage 2 checked the clock after each step and reported ``stopped_by_time_budget: true``
(stage 1 also logged "time budget of ... s reached") whenever the budget was spent, including
after the last step: a smoke run whose budget ran out at ``max_steps`` was recorded as cut short
by time although it ran every step. The budget is named only when it ended the run early.

The budgets below are a nanosecond: spent after any real step, so the outcome does not depend on
the machine's speed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from training_volume_helpers import two_block_volumes

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.stop_vote import budget_cuts_short  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

NANOSECOND = 1e-9


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    pytest.importorskip("SimpleITK")
    root = tmp_path_factory.mktemp("stop")
    data = two_block_volumes(root / "data")
    base = ["model.preset=tiny", "model.condition_encoder_init=null", "data.kind=volumes", f"data.root={data}",
            "data.size=32", "data.window=[-100, 100]", "data.val_fraction=0.25", "data.test_fraction=0.25",
            "data.classes=[{name: upper, labels: [1]}]", "train.batch_size=2", "optim.warmup_steps=1",
            "autoencoder.batch_size=2", "autoencoder.val_every=100"]
    ae = root / "ae"
    train_autoencoder(load_config(None, base + ["model.autoencoder=null", f"autoencoder.output_dir={ae}",
                                                "autoencoder.max_steps=1"]), log=lambda *_: None)
    return root, base + [f"model.autoencoder={ae}"]


def _stage1(root: Path, base: list, name: str, max_steps: int):
    lines = []
    args = base + ["model.autoencoder=null", f"autoencoder.output_dir={root / name}", f"autoencoder.max_steps={max_steps}",
                   f"autoencoder.time_budget_s={NANOSECOND}"]
    result = train_autoencoder(load_config(None, args), log=lines.append)
    return result, "\n".join(str(line) for line in lines)


def test_stage1_reaching_max_steps_is_not_reported_as_stopped_by_time(setup):
    root, base = setup
    result, log = _stage1(root, base, "ae_limit", 1)
    assert result["steps_run"] == 1 and result["step"] == 1
    assert result["stopped_by_time_budget"] is False, result
    assert "time budget" not in log.replace(" or ", " "), log


def test_stage1_cut_short_by_the_budget_says_so(setup):
    root, base = setup
    result, log = _stage1(root, base, "ae_budget", 3)
    assert result["steps_run"] == 1 and result["stopped_by_time_budget"] is True, result
    assert "time budget of 0 s reached; stopping at step 1" in log, log


def _stage2(root: Path, base: list, name: str, max_steps: int):
    args = base + [f"train.output_dir={root / name}", f"train.max_steps={max_steps}", f"train.time_budget_s={NANOSECOND}",
                   "train.val_every=100", "train.ckpt_every=100"]
    return Stage2Trainer(load_config(None, args), resume="none").run()


def test_stage2_reaching_max_steps_is_not_reported_as_stopped_by_time(setup):
    root, base = setup
    result = _stage2(root, base, "s2_limit", 1)
    assert result["step"] == 1 and result["stopped_by_time_budget"] is False, result


def test_stage2_cut_short_by_the_budget_says_so(setup):
    root, base = setup
    result = _stage2(root, base, "s2_budget", 3)
    assert result["step"] == 1 and result["stopped_by_time_budget"] is True, result


def test_the_budget_decision_with_the_smoke_runs_values():
    # the smoke run: 120 s budget spent at step 300 of max_steps 300 -> the step limit stopped it
    assert budget_cuts_short(300, 300, 120.4, 120.0) is False
    assert budget_cuts_short(299, 300, 120.4, 120.0) is True
    assert budget_cuts_short(299, 300, 119.9, 120.0) is False
    assert budget_cuts_short(5, 300, 1e6, 0.0) is False  # 0 = no budget
