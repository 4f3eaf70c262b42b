"""config.json values that load but break the model later, and files that cannot be read: refused, naming them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_test_helpers import copy_model
from engine_test_helpers import tiny_config, tiny_model
from test_importers import _official_state
from test_registry import tiny_folder  # noqa: F401 - pytest fixture (a tiny model folder)

from SDSegLogic.config import SDSegConfig
from SDSegLogic.errors import ConfigError, ModelCardError
from SDSegLogic.importers import import_official_checkpoint
from SDSegLogic.model_folder import load_model_folder, verify_model_folder
from SDSegLogic.pipeline import SDSegPipeline

BAD_VALUES = [
    # beyond [0, 1) a noise variance per step made every probability NaN (beta_end 2) or crashed torch.linspace (< 0)
    ("schedule", "beta_end", 2.0, "beta_end 2.0"),
    ("schedule", "beta_start", -0.001, "beta_start -0.001"),
    # torch builds no Dropout(p=2): a bare ValueError ("unexpected error, a bug") when the model is loaded;
    # tau_theta's rate is set on its blocks directly, so there the ValueError came at training's first step
    ("unet", "dropout", 2.0, "unet.dropout 2.0"),
    ("condition_encoder", "dropout", -0.5, "condition_encoder.dropout -0.5"),
    # the noise schedule refused it with a bare ValueError when the pipeline was built
    ("schedule", "beta_schedule", "cosine", "beta_schedule 'cosine'"),
]


@pytest.mark.parametrize("part, key, value, match", BAD_VALUES)
def test_config_values_that_break_the_model_are_refused_naming_them(part, key, value, match, tiny_folder, tmp_path):
    folder = copy_model(tiny_folder, tmp_path / "model")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config[part][key] = value
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        SDSegConfig.from_json(folder / "config.json")
    problems = verify_model_folder(folder)
    assert len(problems) == 1 and match in problems[0] and str(folder / "config.json") in problems[0]
    with pytest.raises(ConfigError, match=match):
        SDSegPipeline.from_pretrained(folder, device="cpu")


@pytest.mark.parametrize("part, key, value", [
    ("schedule", "beta_schedule", "linear"), ("unet", "dropout", 0.0), ("condition_encoder", "dropout", 0.5),
    ("schedule", "beta_end", 0.02), ("schedule", "beta_start", 0.0),
])
def test_valid_values_next_to_the_limits_still_load_and_segment(part, key, value, tiny_folder, tmp_path):
    folder = copy_model(tiny_folder, tmp_path / "model")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config[part][key] = value
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    assert verify_model_folder(folder) == []
    image = np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
    probabilities = np.asarray(SDSegPipeline.from_pretrained(folder, device="cpu")(image, seed=0).probabilities)
    assert np.isfinite(probabilities).all()


@pytest.mark.parametrize("name, error", [("config.json", ConfigError), ("model_card.json", ModelCardError)])
def test_a_config_or_card_that_cannot_be_read_is_a_problem_not_a_crash(name, error, tiny_folder, tmp_path):
    """A folder in its place (or a file without read permission): `sdseg models verify` said "unexpected error"."""
    folder = copy_model(tiny_folder, tmp_path / "model")
    (folder / name).unlink()
    (folder / name).mkdir()
    problems = verify_model_folder(folder)
    assert len(problems) == 1 and f"{folder / name}: cannot be read" in problems[0]
    with pytest.raises(error, match="cannot be read"):
        load_model_folder(folder)


def test_a_checkpoint_with_an_infinite_latent_scale_is_refused_before_a_folder_is_written(tmp_path):
    """The import wrote a folder whose config.json ("scale_factor": Infinity) no engine could load."""
    state = _official_state(tiny_model(seed=0))
    state["scale_factor"] = torch.tensor(float("inf"))
    torch.save({"state_dict": state}, tmp_path / "sdseg.ckpt")
    with pytest.raises(ConfigError, match="scale_factor must be a finite number > 0, got inf"):
        import_official_checkpoint(tmp_path / "sdseg.ckpt", tmp_path / "model", config=tiny_config())
    assert not (tmp_path / "model").exists()
