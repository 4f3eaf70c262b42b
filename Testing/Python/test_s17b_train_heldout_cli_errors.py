"""``python -m sdseg_training.heldout``: a user error (a config typo, a missing model folder, an empty test split)
is one line with the documented exit code, as the console commands report it, not a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.cli import EXIT_RUN, EXIT_USAGE  # noqa: E402
from sdseg_training.heldout import main  # noqa: E402
from test_training_run_checks import PHANTOM, train_phantom  # noqa: E402


@pytest.fixture(scope="module")
def no_test_split(tmp_path_factory):
    """A 2-step phantom run whose split holds no test case."""
    return train_phantom(tmp_path_factory.mktemp("heldout"), PHANTOM + ["data.test_fraction=0"])


def _empty(tmp_path: Path) -> str:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    return str(empty)


def test_a_config_typo_is_one_line(tmp_path, capsys):
    code = main(["eval", _empty(tmp_path), "train.max_step=2", "--model", str(tmp_path), "--json", str(tmp_path / "h.json")])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "max_step" in err and "Traceback" not in err, err


def test_an_empty_test_split_is_a_run_error(no_test_split, tmp_path, capsys):
    _, base = no_test_split
    code = main(["eval", _empty(tmp_path), *base, "--model", str(tmp_path), "--json", str(tmp_path / "h.json")])
    err = capsys.readouterr().err
    assert code == EXIT_RUN and "test split" in err and "empty" in err, err


def test_a_missing_model_folder_is_a_run_error(no_test_split, tmp_path, capsys):
    _, base = no_test_split
    split = [f"data.split_file={tmp_path / 'split.json'}", "data.test_fraction=0.2"]  # a split with test cases
    code = main(["eval", _empty(tmp_path), *base, *split, "--model", str(tmp_path / "nothing"), "--json", str(tmp_path / "h.json")])
    err = capsys.readouterr().err
    assert code == EXIT_RUN and str(tmp_path / "nothing") in err, err
