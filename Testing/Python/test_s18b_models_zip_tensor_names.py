"""Importing a model zip refuses weights with missing or unexpected tensor names, naming them, before install.

The import compared only the shapes of the tensors both sides have (from the safetensors
headers). A zip whose ``config.json`` adds or removes layers without changing any shared shape
(here self-attention switched on at a UNet level: the file lacks its tensors; or off: the file holds
tensors the model does not have; a weight file with one tensor added) was installed, and failed
only on its first load. Now the import names those tensors and installs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_test_helpers import make_model_folder, zip_folder

from SDSegLogic.errors import WeightsMismatchError
from SDSegLogic.model_folder import load_model_folder
from SDSegLogic.model_zip import import_zip
from SDSegLogic.registry import Registry


def _zip_with_attention(tmp_path: Path, levels: list) -> Path:
    folder = make_model_folder(tmp_path / "model")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["unet"]["attention_levels"] == [True, False]
    config["unet"]["attention_levels"] = levels
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    with pytest.raises(WeightsMismatchError):  # the folder itself does not load: the zip is broken
        load_model_folder(folder)
    return zip_folder(folder, tmp_path / "model.zip")


@pytest.mark.parametrize("levels, said, tensor", [
    ([True, True], "lacks", "down_blocks.1.attentions.0."),
    ([False, False], "the model does not", "down_blocks.0.attentions.0."),
])
def test_a_zip_whose_config_adds_or_drops_layers_is_refused_naming_the_tensors(tmp_path, levels, said, tensor):
    archive = _zip_with_attention(tmp_path, levels)
    home = tmp_path / "home"
    with pytest.raises(WeightsMismatchError) as caught:
        import_zip(archive, Registry(), home)
    text = str(caught.value)
    assert str(archive) in text and "unet.safetensors" in text and said in text and tensor in text
    assert "Nothing was installed" in text
    assert not any(p.is_dir() and not p.name.startswith(".") for p in (home / "tiny-test").glob("*")), "nothing installed"


def test_a_file_with_tensors_the_model_does_not_have_is_refused_naming_them(tmp_path):
    from safetensors.torch import load_file, save_file

    from SDSegLogic.model_card import ModelCard
    from SDSegLogic.model_folder import sha256_file

    folder = make_model_folder(tmp_path / "model")
    path = folder / "unet.safetensors"
    state = load_file(str(path))
    state["down_blocks.0.extra.weight"] = state["conv_in.bias"].clone()
    save_file(state, str(path))
    card = ModelCard.from_json(folder / "model_card.json")
    card.replace(weights={**card.weights, "unet.safetensors": sha256_file(path)}).to_json(folder / "model_card.json")
    home = tmp_path / "home"
    with pytest.raises(WeightsMismatchError) as caught:
        import_zip(zip_folder(folder, tmp_path / "model.zip"), Registry(), home)
    text = str(caught.value)
    assert "has 1 tensor(s) the model does not" in text and "down_blocks.0.extra.weight" in text
    assert not any(p.is_dir() and not p.name.startswith(".") for p in (home / "tiny-test").glob("*"))


def test_a_file_with_an_integer_tensor_is_refused_naming_it(tmp_path):
    """An integer tensor where the model holds floats (same name and shape) failed only at the first load."""
    import torch
    from safetensors.torch import load_file, save_file

    from SDSegLogic.model_card import ModelCard
    from SDSegLogic.model_folder import sha256_file

    folder = make_model_folder(tmp_path / "model")
    model, _ = load_model_folder(folder)
    assert all(v.is_floating_point() for name in model.component_names for v in model.component(name).state_dict().values())
    path = folder / "unet.safetensors"
    state = load_file(str(path))
    state["conv_in.bias"] = state["conv_in.bias"].to(torch.int64)
    save_file(state, str(path))
    card = ModelCard.from_json(folder / "model_card.json")
    card.replace(weights={**card.weights, "unet.safetensors": sha256_file(path)}).to_json(folder / "model_card.json")
    with pytest.raises(WeightsMismatchError):
        load_model_folder(folder)
    home = tmp_path / "home"
    with pytest.raises(WeightsMismatchError) as caught:
        import_zip(zip_folder(folder, tmp_path / "model.zip"), Registry(), home)
    assert "'conv_in.bias' is stored as I64" in str(caught.value) and "Nothing was installed" in str(caught.value)
    assert not any(p.is_dir() and not p.name.startswith(".") for p in (home / "tiny-test").glob("*"))
