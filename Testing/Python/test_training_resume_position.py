"""A resume with another train.grad_accum continues the data order where the run left it."""

from __future__ import annotations

import json
import sys
from itertools import islice
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.trainer import Stage2Trainer  # noqa: E402
from test_training_loop import tiny_config  # noqa: E402


def test_resume_with_another_grad_accum_draws_the_next_unseen_batch(tmp_path):
    Stage2Trainer(tiny_config(tmp_path / "run", "train.max_steps=2", "train.grad_accum=2"), resume="none").run()  # 4 batches
    resumed = Stage2Trainer(tiny_config(tmp_path / "run", "train.max_steps=3", "train.grad_accum=1"), resume="auto")
    stream = Stage2Trainer(tiny_config(tmp_path / "fresh", "train.max_steps=3", "train.grad_accum=1"), resume="none").batches()
    drawn = list(islice(stream, 5))
    following = next(resumed.batches())
    assert torch.equal(following["image"], drawn[4]["image"])  # the fifth batch, not the third again
    assert not any(torch.equal(following["image"], seen["image"]) for seen in drawn[:4])
    resumed.run()
    state = json.loads((tmp_path / "run" / "checkpoints" / "step-00000003" / "state.json").read_text())
    assert state["micro_batches"] == 5  # the position, not step * grad_accum = 3
