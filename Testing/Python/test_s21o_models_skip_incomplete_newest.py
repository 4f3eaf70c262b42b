"""An id without a version resolves to its newest *usable* copy (SDSegLogic.registry.resolve_model).

A newer copy in the models folder that lacks its weights (an import or a copy interrupted, a sync
not finished) used to be the one resolved, and loading it failed although a complete older version
sat next to it. Now it is skipped with a warning naming its folder and the remedy; an explicit
``id@version`` still names that copy, whose load refuses it with the missing file named. The real
tiny model is saved and copied; its weight files are removed from the newer copy.
"""

from __future__ import annotations

import shutil
import warnings

import pytest

from engine_fixtures import make_tiny_model
from SDSegLogic.errors import CheckpointError
from SDSegLogic.model_folder import load_model_folder
from SDSegLogic.registry import Registry, resolve_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("src") / "tiny", model_id="tiny")


def _home_with_broken_newest(tmp_path, tiny):
    home = tmp_path / "home"
    complete = shutil.copytree(tiny, home / "tiny" / "0.0.1")
    broken = shutil.copytree(tiny, home / "tiny" / "0.0.2")
    for weights in broken.glob("*.safetensors"):
        weights.unlink()
    return home, complete, broken


def test_an_id_resolves_to_the_newest_complete_copy_and_warns_about_the_incomplete_one(tmp_path, tiny):
    home, complete, broken = _home_with_broken_newest(tmp_path, tiny)
    with pytest.warns(UserWarning) as caught:
        resolved = resolve_model("tiny", registry=Registry(), home=home)
    assert resolved.folder == complete and resolved.version == "0.0.1" and resolved.source == "cache"
    text = " ".join(str(w.message) for w in caught)
    assert str(broken) in text and "safetensors" in text and "sdseg models import" in text
    model, card = load_model_folder(resolved.folder)  # what an engine does with it: it loads
    assert card.version == "0.0.1"


def test_an_explicit_incomplete_version_is_not_replaced_and_its_load_names_the_missing_file(tmp_path, tiny):
    home, _complete, broken = _home_with_broken_newest(tmp_path, tiny)
    resolved = resolve_model("tiny@0.0.2", registry=Registry(), home=home)
    assert resolved.folder == broken
    with pytest.raises(CheckpointError, match="safetensors.*missing"):
        load_model_folder(resolved.folder)


def test_a_complete_newest_copy_is_chosen_without_a_warning(tmp_path, tiny):
    home = tmp_path / "home"
    shutil.copytree(tiny, home / "tiny" / "0.0.1")
    newest = shutil.copytree(tiny, home / "tiny" / "0.0.2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_model("tiny", registry=Registry(), home=home).folder == newest


def test_only_incomplete_copies_resolve_to_the_newest_one_as_before(tmp_path, tiny):
    home = tmp_path / "home"
    older = shutil.copytree(tiny, home / "tiny" / "0.0.1")
    (older / "config.json").unlink()
    newest = shutil.copytree(tiny, home / "tiny" / "0.0.2")
    for weights in newest.glob("*.safetensors"):
        weights.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_model("tiny", registry=Registry(), home=home).folder == newest


def test_the_panel_offers_the_copy_the_engine_loads(tmp_path, tiny):
    import slicer_logic_helpers  # noqa: F401 - puts SDSegLib on sys.path
    from SDSegLib.model_library import describe_model, list_models

    home, complete, broken = _home_with_broken_newest(tmp_path, tiny)
    with pytest.warns(UserWarning):
        (choice,) = list_models(Registry(), [], home)
    assert choice.found and choice.spec == "tiny" and "v0.0.1" in choice.text and choice.tooltip == str(complete)
    explicit = describe_model("tiny@0.0.2", Registry(), home)
    assert not explicit.found and "not a usable model folder" in explicit.text and str(broken) in explicit.tooltip


def test_an_explicit_version_uses_its_complete_bundled_copy_over_an_incomplete_cached_one(tmp_path, tiny):
    import json
    from pathlib import Path

    document = json.loads((Path(__file__).resolve().parents[2] / "Resources" / "models.json").read_text(encoding="utf-8"))
    document.pop("$schema", None)
    entry = dict(document["models"][0], path="Models/bundled")
    document["models"] = [entry]
    (tmp_path / "Resources").mkdir()
    (tmp_path / "Resources" / "models.json").write_text(json.dumps(document), encoding="utf-8")
    bundled = shutil.copytree(tiny, tmp_path / "Models" / "bundled")
    registry = Registry.load(tmp_path / "Resources" / "models.json")
    home = tmp_path / "home"
    cached = shutil.copytree(tiny, home / entry["id"] / entry["version"])  # the same version, import interrupted
    for weights in cached.glob("*.safetensors"):
        weights.unlink()
    for spec in (entry["id"], f"{entry['id']}@{entry['version']}"):
        with pytest.warns(UserWarning, match="not usable"):
            resolved = resolve_model(spec, registry=registry, home=home)
        assert resolved.folder == bundled and resolved.source == "bundled", spec
