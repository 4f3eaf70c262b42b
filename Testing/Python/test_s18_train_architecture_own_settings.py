"""``model.architecture`` fields that a ``model`` key of their own sets (the dropout of tau_theta and the
UNet: ``model.dropout``; the UNet's class count: ``model.num_classes``) are refused, naming the key to use,
instead of being replaced without a word (a run asked for dropout 0 trained with the paper's 0.2)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.cli import EXIT_USAGE, train_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402
from sdseg_training.modeling import build_model_config  # noqa: E402


@pytest.mark.parametrize("setting, key", [
    ("model.architecture={unet: {dropout: 0.0}}", "model.dropout"),
    ("model.architecture={condition_encoder: {dropout: 0.5}}", "model.dropout"),
    ("model.architecture={unet: {num_classes: 4}}", "model.num_classes"),
])
def test_a_field_with_its_own_model_key_is_refused(setting, key):
    cfg = load_config(None, ["model.preset=tiny", "data.size=32", setting])
    with pytest.raises(TrainingConfigError) as caught:
        build_model_config(cfg.model, cfg.data)
    assert key in str(caught.value) and "model.architecture" in str(caught.value), caught.value


def test_model_dropout_still_sets_both_networks():
    cfg = load_config(None, ["model.preset=tiny", "data.size=32", "model.dropout=0.0"])
    config = build_model_config(cfg.model, cfg.data)
    assert config.unet.dropout == 0.0 and config.condition_encoder.dropout == 0.0


def test_the_refusal_comes_before_the_run_folder_is_written(tmp_path, capsys):
    empty = tmp_path / "c.yaml"
    empty.write_text("")
    run = tmp_path / "run"
    code = train_main([str(empty), "model.preset=tiny", "model.autoencoder=random", "data.kind=phantom2d", "data.size=32",
                       "data.phantom_cases=6", "train.max_steps=1", f"train.output_dir={run}", "model.architecture={unet: {dropout: 0.0}}"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "model.dropout" in err, err
    assert not run.exists()
