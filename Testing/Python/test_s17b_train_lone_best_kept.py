"""A run folder whose only checkpoint is ``best`` (or ``best`` left aside as ``.best.old`` by a crash while it was
replaced, e.g. before the first step checkpoint) is another run's: ``--resume none`` refuses it as it refuses a
folder with step checkpoints, and ``--resume auto`` (the default) refuses to start over it, naming how to continue
from ``best``, instead of training a new run whose first validation replaces that ``best``."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.cli import EXIT_RUN, train_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import ResumeError  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402
from test_training_run_checks import PHANTOM, train_phantom  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_phantom(tmp_path_factory.mktemp("lone"), PHANTOM)


def copied_run(trained, tmp_path: Path):
    """A copy of the phantom stage-2 run in ``tmp_path/s2``: (overrides pointing at it, its checkpoints folder)."""
    root, base = trained
    run = tmp_path / "s2"
    shutil.copytree(root / "s2", run)
    return [*base, f"train.output_dir={run}"], run / "checkpoints"


def _only_best(trained, tmp_path: Path, aside: bool):
    """A copy of the run whose checkpoints folder holds only ``best`` (``.best.old`` + ``.best.tmp`` when ``aside``)."""
    base, checkpoints = copied_run(trained, tmp_path)
    for step in checkpoints.glob("step-*"):
        shutil.rmtree(step)
    if aside:
        os.replace(checkpoints / "best", checkpoints / ".best.old")
        (checkpoints / ".best.tmp").mkdir()
    weights = (checkpoints / (".best.old" if aside else "best") / "model.safetensors").read_bytes()
    return base, checkpoints, weights


def _best_weights(checkpoints: Path) -> bytes:
    folder = checkpoints / "best" if (checkpoints / "best").is_dir() else checkpoints / ".best.old"
    return (folder / "model.safetensors").read_bytes()


@pytest.mark.parametrize("aside", [True, False])
def test_default_resume_does_not_start_a_new_run_over_a_lone_best(trained, tmp_path, capsys, aside):
    base, checkpoints, weights = _only_best(trained, tmp_path, aside)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert train_main([str(empty), *base, "train.max_steps=2"]) == EXIT_RUN
    err = capsys.readouterr().err
    assert "--resume" in err and str(checkpoints / "best") in err, err
    assert _best_weights(checkpoints) == weights


def test_resume_none_refuses_a_folder_whose_best_was_left_aside(trained, tmp_path):
    base, checkpoints, weights = _only_best(trained, tmp_path, aside=True)
    with pytest.raises(ResumeError, match="--overwrite"):
        Stage2Trainer(load_config(None, [*base, "train.max_steps=2"]), resume="none").run()
    assert _best_weights(checkpoints) == weights


def test_the_named_remedy_continues_from_the_best_left_aside(trained, tmp_path):
    base, checkpoints, _ = _only_best(trained, tmp_path, aside=True)
    trainer = Stage2Trainer(load_config(None, [*base, "train.max_steps=2"]), resume=str(checkpoints / "best"))
    assert trainer.step == 2


def test_overwrite_clears_a_best_left_aside(trained, tmp_path):
    base, checkpoints, _ = _only_best(trained, tmp_path, aside=True)
    Stage2Trainer(load_config(None, [*base, "train.max_steps=2"]), resume="none", overwrite=True)
    assert not (checkpoints / ".best.old").exists()
