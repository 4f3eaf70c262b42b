"""A checkpoint that cannot be written (disk full, a blocked path) is a run error that keeps the earlier ones.

Simulated with a file standing where the trainer stages the next checkpoint folder
(``checkpoints/.step-00000002.tmp``): the write fails as it would on a full disk. Before, the
OSError left the trainer with a traceback and exit code 1 ("a bug"); now it is one line naming the
folder and the remedy, exit code 4, the step-1 checkpoint loads as before, and the same command
resumes once the path is free.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.checkpoint import load_checkpoint  # noqa: E402
from sdseg_training.cli import train_main  # noqa: E402

BASE = ["model.preset=tiny", "model.condition_encoder_init=null", "model.autoencoder=random", "data.kind=phantom2d",
        "data.size=32", "data.phantom_cases=8", "data.val_fraction=0.25", "train.batch_size=2", "train.val_every=1",
        "train.ckpt_every=1", "optim.warmup_steps=1", "train.keep_checkpoints=5"]


def _train(config: Path, out: Path, steps: int) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a random autoencoder is refused nowhere but warned about
        return train_main([str(config), *BASE, f"train.output_dir={out}", f"train.max_steps={steps}"])


def test_failed_checkpoint_write_is_a_run_error_and_keeps_the_previous_one(tmp_path, capsys):
    config, out = tmp_path / "run.yaml", tmp_path / "run"
    config.write_text("")
    assert _train(config, out, 1) == 0
    first = out / "checkpoints" / "step-00000001"
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    blocker = out / "checkpoints" / ".step-00000002.tmp"
    blocker.write_text("in the way")
    capsys.readouterr()
    assert _train(config, out, 2) == 4
    err = capsys.readouterr().err
    assert "step-00000002" in err and "Traceback" not in err, err
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before  # the previous checkpoint is whole
    assert load_checkpoint(first)["state"]["step"] == 1
    assert not (out / "checkpoints" / "step-00000002").exists()
    blocker.unlink()
    assert _train(config, out, 2) == 0  # the same command resumes
    assert json.loads((out / "checkpoints" / "step-00000002" / "state.json").read_text())["step"] == 2


def test_failed_record_update_is_a_run_error_and_keeps_the_record(tmp_path):
    from sdseg_training.checkpoint import update_checkpoint_state
    from sdseg_training.errors import CheckpointWriteError

    config, out = tmp_path / "run.yaml", tmp_path / "run"
    config.write_text("")
    assert _train(config, out, 1) == 0
    folder = out / "checkpoints" / "step-00000001"
    before = (folder / "state.json").read_bytes()
    (folder / ".state.json.tmp").mkdir()  # the temporary record cannot be written (as on a full disk)
    try:
        update_checkpoint_state(folder, best={"metric": 1.0, "step": 1})
    except CheckpointWriteError as exc:
        assert "state.json" in str(exc) and "resumes" in str(exc)
    else:
        raise AssertionError("the update should have failed")
    assert (folder / "state.json").read_bytes() == before
