"""Config errors from ``section.key=value`` overrides name the file, key, value and remedy; nested keys work.

Before: an override value that is not valid YAML (``train.max_steps=[1``) and an override into a
section that the file gives as a scalar (``train: 5``) ended in tracebacks (yaml.ParserError,
TypeError) instead of the one-line usage error; ``model.architecture.autoencoder.latent_channels=8``
(the documented mapping-valued key) was refused as an unknown key ``architecture.autoencoder...``;
and an unknown key did not show its value or the likely intended key.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.cli import train_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402


def _cli_error(tmp_path, capsys, text: str, *overrides: str) -> str:
    config = tmp_path / "run.yaml"
    config.write_text(text)
    assert train_main([str(config), *overrides]) == 2
    return capsys.readouterr().err


def test_override_value_that_is_not_yaml_is_a_usage_error(tmp_path, capsys):
    err = _cli_error(tmp_path, capsys, "model:\n  preset: tiny\n", "train.max_steps=[1")
    assert "train.max_steps" in err and "[1" in err and "Traceback" not in err


def test_override_into_a_scalar_section_names_the_file(tmp_path, capsys):
    err = _cli_error(tmp_path, capsys, "train: 5\n", "train.max_steps=3")
    assert "run.yaml" in err and "train" in err and "mapping" in err and "Traceback" not in err


def test_nested_override_sets_one_entry_of_a_mapping_key(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model:\n  preset: tiny\n  architecture:\n    unet: {dropout: 0.1}\n")
    cfg = load_config(str(config), ["model.architecture.autoencoder.latent_channels=8"])
    assert cfg.model.architecture == {"unet": {"dropout": 0.1}, "autoencoder": {"latent_channels": 8}}


def test_nested_override_into_a_list_names_the_remedy(tmp_path):
    with pytest.raises(TrainingConfigError, match=r"data\.classes=\[") as info:
        load_config(None, ["data.classes.0.name=liver"])
    assert "data.classes.0.name=liver" in str(info.value)


def test_unknown_key_names_its_value_and_the_close_key(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("train:\n  max_step: 300\n")
    with pytest.raises(TrainingConfigError) as info:
        load_config(str(config))
    text = str(info.value)
    assert "run.yaml" in text and "max_step=300" in text and "did you mean max_steps" in text
