"""Training command texts and config checks: ``optim.betas`` outside [0, 1) is a config error (not torch's
traceback from inside the trainer), a pair's example in a message fits its key, each command's ``--help``
shows an override it reads, and ``python -m sdseg_training.experiments`` reads overrides after ``--steps``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.cli import EXIT_USAGE, eval_main, export_main, train_ae_main, train_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402
from sdseg_training.experiments import main as experiments_main  # noqa: E402
from test_training_run_checks import PHANTOM, train_phantom  # noqa: E402


@pytest.mark.parametrize("betas", ["[0.9, 1.5]", "[-0.1, 0.999]", "[0.9, 1.0]"])
def test_betas_outside_the_unit_interval_are_a_config_error(betas):
    with pytest.raises(TrainingConfigError, match=r"optim\.betas=.*\[0, 1\)"):
        load_config(None, [f"optim.betas={betas}"])


def test_the_trainer_reports_bad_betas_in_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    args = [str(empty), "model.preset=tiny", "model.autoencoder=random", "data.kind=phantom2d", "data.size=32",
            "data.phantom_cases=6", f"train.output_dir={tmp_path / 'run'}", "optim.betas=[0.9, 1.5]"]
    assert train_main(args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "optim.betas" in err and "Traceback" not in err, err


@pytest.mark.parametrize("key, value, example, wrong", [
    ("optim.betas", "[0.9]", "[0.9, 0.999]", "-125"),
    ("data.slice_range", "[40]", "[40, 66]", "-125"),
    ("data.window", "[0]", "[-125, 275]", "0.999"),
])
def test_a_pair_message_gives_an_example_of_its_own_key(key, value, example, wrong):
    with pytest.raises(TrainingConfigError) as caught:
        load_config(None, [f"{key}={value}"])
    assert example in str(caught.value) and wrong not in str(caught.value), caught.value


@pytest.mark.parametrize("command, section", [(train_ae_main, "autoencoder."), (train_main, "train."),
                                              (eval_main, ""), (export_main, "")])
def test_help_shows_an_override_the_command_reads(command, section, capsys):
    with pytest.raises(SystemExit) as done:
        command(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    example = text.split("section.key=value overrides, e.g. ", 1)[1].split()[0]
    assert example.startswith(section or "train.output_dir"), example
    if command is train_ae_main:  # stage 1 reads autoencoder.*, never train.max_steps
        assert "train.max_steps" not in text


def test_experiments_read_overrides_after_steps(tmp_path, capsys):
    root, base = train_phantom(tmp_path, PHANTOM)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    out = tmp_path / "exp.json"
    code = experiments_main([str(empty), "--split", "val", "--seeds", "1", "--json", str(out), "--steps", "1", *base])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["split"] == "val" and list(result["steps"]) == ["1"]


def test_help_lists_every_cause_of_an_exit_code(capsys):
    """A diverged run exits 4 and SIGTERM stops a trainer with 130 (README's table); ``--help`` says so too."""
    with pytest.raises(SystemExit):
        train_main(["--help"])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line[:5].strip().isdigit()}
    assert "diverged" in lines["4"] and "SIGTERM" in lines["130"], lines


def test_a_bad_override_is_named_as_an_override(tmp_path):
    """``train.max_step=2`` on the command line is not in the YAML: the message must say where it came from."""
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  max_steps: 10\n")
    with pytest.raises(TrainingConfigError) as caught:
        load_config(str(config), ["train.max_step=2", "data.size=64"])
    assert "train.max_step" in str(caught.value) and "data.size" not in str(caught.value), caught.value
    config.write_text("train:\n  max_step: 10\n")  # a typo in the file itself: no override named
    with pytest.raises(TrainingConfigError) as caught:
        load_config(str(config), ["data.size=64"])
    assert "(overrides" not in str(caught.value) and str(config) in str(caught.value), caught.value


@pytest.mark.parametrize("module", ["stage1_copy", "distill_decoder"])
def test_module_usage_line_is_a_command_that_runs(module, capsys):
    """``python -m sdseg_training.<module> --help`` shows that command, not ``<module>.py`` (not on any PATH)."""
    import importlib

    with pytest.raises(SystemExit):
        importlib.import_module(f"sdseg_training.{module}").main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m sdseg_training.{module} "), out[:120]
    assert "``" not in out
