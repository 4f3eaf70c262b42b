"""``sdseg-eval --help`` describes every split it takes (train as well as test and validation) and what
``--split`` and ``--seed`` mean; ``sdseg-export --help`` says what ``--checkpoint`` takes."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.cli import eval_main, export_main  # noqa: E402


def _help(command, capsys) -> str:
    with pytest.raises(SystemExit) as done:
        command(["--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def _option_text(text: str, option: str) -> str:
    """The help text after ``option``'s usage words, up to the next option."""
    after = text.split(f"  {option} " if f"  {option} " in text else f" {option} ", 1)[-1]
    return re.split(r" --[a-z]", after, maxsplit=1)[0]


def test_eval_description_names_every_split_it_takes(capsys):
    text = _help(eval_main, capsys)
    description = text.split("config [overrides ...]", 1)[1].split("positional arguments", 1)[0]
    for split in ("test", "val", "train"):
        assert re.search(rf"\b{split}\b", description), description
    assert "test or validation split" not in description, description


def test_eval_split_and_seed_have_help(capsys):
    text = _help(eval_main, capsys)
    split = _option_text(text, "--split {test,val,train}")
    assert "held out" in split and "train" in split, split
    seed = _option_text(text, "--seed SEED")
    assert "noise" in seed, seed


def test_export_checkpoint_has_help(capsys):
    text = _help(export_main, capsys)
    checkpoint = _option_text(text, "--checkpoint CHECKPOINT")
    assert "best" in checkpoint and "latest" in checkpoint and "folder" in checkpoint, checkpoint
