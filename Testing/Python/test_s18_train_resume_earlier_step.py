"""A run resumed from an earlier checkpoint of its own folder (``--resume .../step-2`` or ``best`` while
step 4 exists) continues on a new branch: before that branch saves a step, the later step checkpoints of
the branch it left are set aside whole under ``left-branches/`` (not deleted, not overwritten), so that
``--resume auto`` (the command printed after Ctrl-C) continues the new branch instead of silently going back
to the old one; the old branch can still be resumed from there; the checkpoint just written is never pruned."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.checkpoint import latest_checkpoint  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402


def _config(out: Path, *extra: str):
    return load_config(None, [
        "model.preset=tiny", "model.autoencoder=random", "model.condition_encoder_init=null", "data.kind=phantom2d",
        "data.size=32", "data.phantom_cases=8", f"train.output_dir={out}", "train.batch_size=2", "train.val_every=1000",
        "train.ckpt_every=1", "train.log_every=1", "optim.warmup_steps=0", *extra,
    ])


def _steps(out: Path) -> list:
    return sorted(p.name for p in (out / "checkpoints").iterdir() if p.name.startswith("step-"))


def _weights(trainer) -> dict:
    return {k: v.detach().clone() for k, v in trainer.denoiser.state_dict().items()}


def test_resume_auto_continues_the_branch_resumed_from_an_earlier_step(tmp_path):
    out = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Stage2Trainer(_config(out, "train.max_steps=4", "train.keep_checkpoints=3"), resume="none").run()
        assert _steps(out) == ["step-00000002", "step-00000003", "step-00000004"]
        # go back to step 2 and take step 3 again, at another learning rate: a new branch
        branch = Stage2Trainer(_config(out, "train.max_steps=3", "train.keep_checkpoints=3", "optim.lr=1e-3"),
                               resume=str(out / "checkpoints" / "step-00000002"))
        branch.run()
        new_step3 = _weights(branch)
        assert latest_checkpoint(out).name == "step-00000003"
        assert "step-00000004" not in _steps(out)  # the old branch's later steps are set aside, whole
        left = out / "left-branches" / "after-step-00000002"
        assert sorted(p.name for p in left.iterdir()) == ["step-00000003", "step-00000004"]
        old4 = Stage2Trainer(_config(out, "train.max_steps=4", "train.keep_checkpoints=3"),
                             resume=str(left / "step-00000004"))
        assert old4.step == 4 and not any(torch.equal(new_step3[k], v) for k, v in _weights(old4).items()
                                          if v.is_floating_point() and v.numel() > 1)
        again = Stage2Trainer(_config(out, "train.max_steps=3", "train.keep_checkpoints=3", "optim.lr=1e-3"), resume="auto")
    assert again.step == 3
    assert all(torch.equal(new_step3[k], v) for k, v in _weights(again).items())


def test_the_checkpoint_just_written_is_never_pruned(tmp_path):
    out = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Stage2Trainer(_config(out, "train.max_steps=4", "train.keep_checkpoints=3"), resume="none").run()
        tr = Stage2Trainer(_config(out, "train.max_steps=4", "train.keep_checkpoints=1"),
                           resume=str(out / "checkpoints" / "step-00000002"))
        tr.run(max_steps=3)
    assert _steps(out) == ["step-00000003"]
    assert latest_checkpoint(out).name == "step-00000003"
