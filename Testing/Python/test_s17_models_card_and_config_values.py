"""Model folders whose config.json or model_card.json hold values that would only fail (or mislead) later.

* ``block_out_channels: []`` (no level) passed validation with fractional sizes; building the model
  then died with a bare IndexError, and ``sdseg models verify`` said the folder was fine.
* ``"authors": "Jane Doe"`` became one author per letter, and was saved back so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_test_helpers import make_model_folder

from SDSegLogic.errors import ConfigError, ModelCardError
from SDSegLogic.model_card import ModelCard
from SDSegLogic.model_folder import load_model_folder, verify_model_folder


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("model") / "tiny-test")


def _edit(folder: Path, name: str, change) -> dict:
    data = json.loads((folder / name).read_text(encoding="utf-8"))
    change(data)
    (folder / name).write_text(json.dumps(data), encoding="utf-8")
    return data


@pytest.mark.parametrize("part", ["autoencoder", "condition_encoder", "unet"])
def test_a_config_with_no_level_is_refused_naming_the_key(part, tiny_folder, tmp_path):
    import shutil

    folder = Path(shutil.copytree(tiny_folder, tmp_path / "m"))

    def no_levels(config):
        config[part]["block_out_channels"] = []
        if part == "unet":
            config[part]["attention_levels"] = []
        else:  # the autoencoder and the condition encoder must keep one grid
            config["autoencoder"]["block_out_channels"] = config["condition_encoder"]["block_out_channels"] = []

    _edit(folder, "config.json", no_levels)
    problems = verify_model_folder(folder)
    assert any("block_out_channels is empty" in p and "config.json" in p for p in problems), problems
    with pytest.raises(ConfigError, match=r"block_out_channels is empty"):
        load_model_folder(folder)


def test_authors_given_as_one_string_are_refused_not_split_into_letters(tiny_folder, tmp_path):
    card = json.loads((tiny_folder / "model_card.json").read_text(encoding="utf-8"))
    for key in ("authors", "references"):
        with pytest.raises(ModelCardError, match=f"{key} 'Jane Doe' must be a list of strings"):
            ModelCard.from_dict({**card, key: "Jane Doe"}, source="card.json")
    loaded = ModelCard.from_dict({**card, "authors": ["Jane Doe"], "references": ["doi:10/x"]})
    assert loaded.authors == ("Jane Doe",) and list(loaded.to_dict()["authors"]) == ["Jane Doe"]
    with pytest.raises(ModelCardError, match="authors"):
        ModelCard.from_dict(card).replace(authors="Jane Doe")


def test_a_card_whose_classes_do_not_fit_the_network_fails_verification_and_import(tmp_path):
    """`sdseg models verify` said OK (and an import installed it) while every segmentation refused the model."""
    from cli_test_helpers import zip_folder

    from SDSegLogic.errors import CheckpointError
    from SDSegLogic.model_zip import import_zip
    from SDSegLogic.pipeline import SDSegPipeline
    from SDSegLogic.registry import Registry

    folder = make_model_folder(tmp_path / "multi", num_classes=3)  # background + 2 organs
    card = _edit(folder, "model_card.json", lambda c: c.update(classes=c["classes"][:1]))
    model, loaded = load_model_folder(folder)
    with pytest.raises(ModelCardError, match="network classes"):
        SDSegPipeline(model, model_card=loaded)
    problems = verify_model_folder(folder)
    assert any("1 class(es)" in p and "has 3" in p for p in problems), (problems, card["classes"])
    with pytest.raises(CheckpointError, match="fails verification"):
        import_zip(zip_folder(folder, tmp_path / "m.zip"), Registry(), tmp_path / "home")
