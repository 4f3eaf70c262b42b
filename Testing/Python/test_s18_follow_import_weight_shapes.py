"""Importing a model zip (or an official checkpoint) checks weight shapes against the config before installing.

Before, a zip whose ``config.json`` gives other channel counts than its weights (here the UNet's second level
widened from 16 to 24 channels, or the autoencoder's latent channels from 4 to 8) was installed: the
sha256 checks passed, and the mismatch surfaced only on the first load. Now the import is refused before
the model is put in the cache, naming the tensor, both shapes and the ``config.json`` key; only the
safetensors headers are read. An official checkpoint was already refused before writing; its message now
names the config keys too.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from cli_test_helpers import make_model_folder, zip_folder
from engine_test_helpers import tiny_card, tiny_config, tiny_model
from test_importers import _official_state

from SDSegLogic.errors import WeightsMismatchError
from SDSegLogic.importers import import_official_checkpoint
from SDSegLogic.model_folder import load_model_folder
from SDSegLogic.model_zip import import_zip
from SDSegLogic.registry import Registry
from SDSegLogic.weight_shapes import safetensors_shapes


def _edited_zip(tmp_path: Path, section: str, key: str, value) -> Path:
    folder = make_model_folder(tmp_path / "model")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config[section][key] = value
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return zip_folder(folder, tmp_path / "model.zip")


@pytest.mark.parametrize("section, key, value, tensor", [
    ("unet", "block_out_channels", [8, 24], "down_blocks.1."),
    ("autoencoder", "latent_channels", 8, "conv_"),
])
def test_a_zip_whose_config_does_not_fit_its_weights_is_refused_before_install(tmp_path, section, key, value, tensor):
    archive = _edited_zip(tmp_path, section, key, value)
    home = tmp_path / "home"
    with pytest.raises(WeightsMismatchError) as caught:
        import_zip(archive, Registry(), home)
    text = str(caught.value)
    assert str(archive) in text and tensor in text and f"{section}.{key} = {json.dumps(value)}" in text
    assert " has shape (" in text and " makes it (" in text
    assert not any(p.is_dir() and not p.name.startswith(".") for p in (home / "tiny-test").glob("*")), "nothing installed"


def test_the_shapes_come_from_the_header_and_a_fitting_zip_still_installs(tmp_path):
    folder = make_model_folder(tmp_path / "model")
    shapes = safetensors_shapes(folder / "unet.safetensors")
    model, _ = load_model_folder(folder)
    assert shapes == {k: tuple(v.shape) for k, v in model.unet.state_dict().items()}
    installed = import_zip(zip_folder(folder, tmp_path / "model.zip"), Registry(), tmp_path / "home")
    load_model_folder(installed.folder)


def test_an_official_checkpoint_with_another_config_names_the_config_key(tmp_path):
    ckpt = tmp_path / "sdseg.ckpt"
    torch.save({"state_dict": _official_state(tiny_model())}, ckpt)
    config = tiny_config()
    wide = config.replace(unet=dataclasses.replace(config.unet, block_out_channels=(8, 24)))
    with pytest.raises(WeightsMismatchError) as caught:
        import_official_checkpoint(ckpt, tmp_path / "m", card=tiny_card(), config=wide)
    text = str(caught.value)
    assert str(ckpt) in text and "unet.block_out_channels = [8, 24]" in text and "(16," in text and "(24," in text
    assert not (tmp_path / "m").exists()
