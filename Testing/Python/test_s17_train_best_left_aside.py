"""A ``best`` checkpoint left aside (``.best.old``) by a crash between the two renames of its replacement is put back
by ``sdseg-eval``, ``sdseg-export`` and ``--resume <best>``, instead of being reported as never written."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.cli import eval_main, export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402
from test_training_run_checks import PHANTOM, train_phantom  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root, base = train_phantom(tmp_path_factory.mktemp("aside"), PHANTOM)
    empty = root / "empty.yaml"
    empty.write_text("")
    return root, base, empty


def _crash_between_renames(root: Path) -> Path:
    """The files a kill between ``best -> .best.old`` and ``.best.tmp -> best`` leaves (the new copy complete)."""
    checkpoints = root / "s2" / "checkpoints"
    best = checkpoints / "best"
    if best.is_dir():  # (an earlier test may have left it aside already)
        os.replace(best, checkpoints / ".best.old")
    (checkpoints / ".best.tmp").mkdir(exist_ok=True)
    return best


def test_eval_of_best_puts_back_the_folder_left_aside(run, capsys):
    root, base, empty = run
    best = _crash_between_renames(root)
    assert eval_main([str(empty), *base, "--checkpoint", "best", "--json", str(root / "eval.json")]) == 0, capsys.readouterr().err
    assert json.loads((root / "eval.json").read_text())["checkpoint"] == str(best) and best.is_dir()


def test_export_of_best_puts_back_the_folder_left_aside(run, capsys):
    root, base, empty = run
    _crash_between_renames(root)
    card = root / "card.json"
    card.write_text(json.dumps({"model_id": "phantom", "classes": [{"name": "blob"}, {"name": "vessel"}]}))
    assert export_main([str(empty), *base, "--card", str(card), "--out", str(root / "model")]) == 0, capsys.readouterr().err
    assert json.loads((root / "model" / "model_card.json").read_text())["training"]["exported_from"] == "best"


def test_resume_from_best_puts_back_the_folder_left_aside(run):
    root, base, _ = run
    best = _crash_between_renames(root)
    trainer = Stage2Trainer(load_config(None, base + ["train.max_steps=2"]), resume=str(best))
    assert trainer.step == 2 and best.is_dir()
