"""``python -m sdseg_training.experiments``: an empty split is a clear run error (not a raw ``KeyError``), and scores
of data other than the run's (another ``data.size``) carry the warning ``sdseg-eval`` gives, in the JSON too."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.cli import EXIT_RUN  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import ResumeError  # noqa: E402
from sdseg_training.experiments import main, run_experiments  # noqa: E402
from test_training_run_checks import PHANTOM, train_phantom  # noqa: E402


@pytest.fixture(scope="module")
def no_test_split(tmp_path_factory):
    """A 2-step phantom run whose split holds no test case."""
    return train_phantom(tmp_path_factory.mktemp("experiments"), PHANTOM + ["data.test_fraction=0"])


def test_an_empty_split_is_a_run_error_naming_it(no_test_split):
    _, base = no_test_split
    assert json.loads((no_test_split[0] / "s2" / "split.json").read_text())["test"] == []
    with pytest.raises(ResumeError, match="'test' split is empty"):
        run_experiments(load_config(None, base), "test", steps=(1,), seeds=1)


def test_the_command_reports_an_empty_split_in_one_line(no_test_split, tmp_path, capsys):
    _, base = no_test_split
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert main([str(empty), *base, "--split", "test", "--steps", "1", "--seeds", "1"]) == EXIT_RUN
    err = capsys.readouterr().err
    assert "'test' split is empty" in err and "Traceback" not in err, err


def test_scores_of_other_data_carry_the_warning(no_test_split):
    _, base = no_test_split
    same = run_experiments(load_config(None, base), "val", steps=(1,), seeds=1)
    assert "warnings" not in same
    with pytest.warns(UserWarning, match="data.size: 32 in the run, 48 now"):
        other = run_experiments(load_config(None, base + ["data.size=48"]), "val", steps=(1,), seeds=1)
    assert any("data.size: 32 in the run, 48 now" in note for note in other["warnings"])
