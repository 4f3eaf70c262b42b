"""A refused model setting leaves the output folder as it was: stage 2 (``sdseg-train``) and stage 1
(``sdseg-train-ae``) check ``model.architecture``, the weight sources (``model.autoencoder``,
``model.unet_init``, ``model.condition_encoder_init``, ``autoencoder.init``), ``--resume`` and the stage-1
settings before they write ``split.json``, create the folder, or clear an earlier run (``--overwrite``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.cli import EXIT_USAGE, train_ae_main, train_main  # noqa: E402

_TINY = ["model.preset=tiny", "data.kind=phantom2d", "data.size=32", "data.phantom_cases=6",
         "train.max_steps=1", "autoencoder.max_steps=1"]
_BAD_ARCHITECTURE = [
    "model.architecture={unet: {bogus: 1}}",  # an unknown field
    "model.architecture={unet: {block_out_channels: [8, 12]}}",  # channels the attention heads do not divide
    "model.architecture={wrong: {}}",  # an unknown part
]


def _snapshot(folder: Path) -> dict:
    """Every path under ``folder`` with its bytes (files) or None (folders); {} when it does not exist."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def _run(command, tmp_path: Path, run: Path, *settings: str) -> int:
    config = tmp_path / "c.yaml"
    config.write_text("")
    return command([str(config), *_TINY, f"train.output_dir={run}", f"autoencoder.output_dir={run}", *settings])


@pytest.mark.parametrize("command", [train_main, train_ae_main], ids=["stage2", "stage1"])
@pytest.mark.parametrize("setting", _BAD_ARCHITECTURE)
def test_a_bad_architecture_creates_no_output_folder(command, setting, tmp_path, capsys):
    run = tmp_path / "run"
    code = _run(command, tmp_path, run, "model.autoencoder=random", setting)
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert "model.architecture" in err, err
    assert not run.exists(), _snapshot(run)


@pytest.mark.parametrize("command", [train_main, train_ae_main], ids=["stage2", "stage1"])
def test_a_bad_architecture_leaves_an_existing_folder_untouched(command, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    before = _snapshot(run)
    code = _run(command, tmp_path, run, "model.autoencoder=random", _BAD_ARCHITECTURE[0])
    assert code == EXIT_USAGE, capsys.readouterr().err
    assert _snapshot(run) == before


@pytest.mark.parametrize("setting", ["model.autoencoder", "model.unet_init", "model.condition_encoder_init"])
def test_a_missing_weight_source_creates_no_output_folder(setting, tmp_path, capsys):
    run = tmp_path / "run"
    extra = [] if setting == "model.autoencoder" else ["model.autoencoder=random"]
    code = _run(train_main, tmp_path, run, *extra, f"{setting}={tmp_path / 'nowhere'}")
    err = capsys.readouterr().err
    assert code != 0 and "nowhere" in err, err
    assert not run.exists(), _snapshot(run)


def test_a_missing_resume_folder_creates_no_output_folder(tmp_path, capsys):
    run = tmp_path / "run"
    code = _run(train_main, tmp_path, run, "model.autoencoder=random", "--resume", str(tmp_path / "nowhere"))
    err = capsys.readouterr().err
    assert code != 0 and "nowhere" in err, err
    assert not run.exists(), _snapshot(run)


def test_overwrite_with_a_bad_architecture_keeps_the_earlier_run(tmp_path, capsys):
    run = tmp_path / "run"
    step = run / "checkpoints" / "step-00000002"
    step.mkdir(parents=True)
    (step / "state.json").write_text('{"step": 2}')
    (run / "config.resolved.json").write_text("{}")
    before = _snapshot(run)
    code = _run(train_main, tmp_path, run, "model.autoencoder=random", _BAD_ARCHITECTURE[0], "--overwrite")
    assert code == EXIT_USAGE, capsys.readouterr().err
    assert _snapshot(run) == before  # the earlier run's checkpoint was not deleted for a run that cannot start


@pytest.mark.parametrize("setting", ["autoencoder.device=tpu", "autoencoder.lr_schedule=step",
                                     "autoencoder.thin_gap_probability=2"])
def test_a_bad_stage1_setting_creates_no_output_folder(setting, tmp_path, capsys):
    run = tmp_path / "run"
    code = _run(train_ae_main, tmp_path, run, "model.autoencoder=random", setting)
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert setting.split("=")[0] in err, err
    assert not run.exists(), _snapshot(run)


def test_a_missing_stage1_warm_start_is_a_config_error_before_any_write(tmp_path, capsys):
    run = tmp_path / "run"
    code = _run(train_ae_main, tmp_path, run, f"autoencoder.init={tmp_path / 'nowhere'}")
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err  # not a traceback (exit 1)
    assert "autoencoder.init" in err and "nowhere" in err, err
    assert not run.exists(), _snapshot(run)


def test_overwrite_with_a_bad_architecture_keeps_no_copy_of_the_stage1_weights(tmp_path, capsys):
    from safetensors.torch import save_file

    run = tmp_path / "run"
    run.mkdir()
    save_file({"w": torch.zeros(2)}, str(run / "autoencoder.safetensors"))
    before = _snapshot(run)
    code = _run(train_ae_main, tmp_path, run, "model.autoencoder=random", _BAD_ARCHITECTURE[0], "--overwrite")
    assert code == EXIT_USAGE, capsys.readouterr().err
    assert _snapshot(run) == before  # no replaced/<sha256>/ copy, no split.json
