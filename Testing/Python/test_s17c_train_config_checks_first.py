"""Config refusals come before anything is written, and fit where the value came from: an unknown
``model.preset`` is refused with the other config checks (no ``split.json`` left in the output folder, no
test-overlap warning), and an empty ``train.output_dir=`` given on the command line is not told to be
quoted "in the YAML"."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.cli import EXIT_USAGE, train_ae_main, train_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402

_PHANTOM = ["model.autoencoder=random", "data.kind=phantom2d", "data.size=32", "data.phantom_cases=6"]


@pytest.mark.parametrize("command", [train_main, train_ae_main])
def test_an_unknown_preset_is_refused_before_the_split_is_written(command, tmp_path, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    run = tmp_path / "run"
    args = [str(empty), "model.preset=huge", *_PHANTOM, f"train.output_dir={run}", f"autoencoder.output_dir={run}"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = command(args)
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert "model.preset" in err and "huge" in err and "tiny" in err, err
    assert not (run / "split.json").exists()
    assert not [w for w in caught if "overlap" in str(w.message)]


def test_an_unknown_preset_is_a_config_error_naming_the_choices():
    with pytest.raises(TrainingConfigError, match=r"model\.preset='huge'.*paper") as caught:
        load_config(None, ["model.preset=huge"])
    assert "command-line" in str(caught.value)  # it came from the command line


def test_a_preset_in_the_file_is_checked_too(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  preset: Lite\n")
    with pytest.raises(TrainingConfigError, match=r"c\.yaml.*model\.preset='Lite'"):
        load_config(str(config))


def test_an_empty_override_is_not_sent_to_the_yaml():
    with pytest.raises(TrainingConfigError) as caught:
        load_config(None, ["train.output_dir="])
    text = str(caught.value)
    assert "output_dir" in text and "YAML" not in text, text
    assert "command line" in text, text


def test_a_non_string_in_the_file_is_still_told_to_quote_it_in_the_yaml(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  output_dir: 123\n")
    with pytest.raises(TrainingConfigError, match="quote it in the YAML"):
        load_config(str(config))


def test_a_number_override_for_a_string_is_told_how_to_quote_it_on_the_command_line():
    with pytest.raises(TrainingConfigError) as caught:
        load_config(None, ["train.output_dir=123"])
    text = str(caught.value)
    assert "YAML" not in text and "command line" in text and "train.output_dir=\"123\"" in text, text
