"""The panel's model list when the copy a model id resolves to lacks its weights (SDSegLib.model_library).

The engine loads the copy ``SDSegLogic.registry.resolve_model`` picks: the newest usable version in the
models folder, else the registry's bundled folder. When that folder is not a usable model (a copy
interrupted by hand or by a sync, weights not checked out), the list and the card must not offer
the id as usable (``checkModelAvailable`` and the Segment button rely on ``found``): an engine
started for it would only die loading it. The real tiny model is copied; files are removed.
"""

from __future__ import annotations

import json
import shutil

from slicer_logic_helpers import REPO, model_folder  # noqa: F401 - pytest fixture; puts SDSegLib on sys.path


def _without_weights(folder):
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    return folder


def test_an_imported_id_whose_newest_version_lacks_weights_offers_the_copy_the_engine_loads(tmp_path, model_folder):
    """The engine skips the unusable newer copy (with a warning) and loads the newest usable one: the list offers
    that one, and the broken version, named explicitly, is not offered as usable."""
    import pytest

    from SDSegLib.model_library import describe_model, list_models
    from SDSegLogic.registry import Registry, resolve_model

    home = tmp_path / "home"
    complete = shutil.copytree(model_folder, home / "tiny-two" / "0.0.1")
    broken = _without_weights(shutil.copytree(model_folder, home / "tiny-two" / "0.0.2"))  # newer, half copied
    with pytest.warns(UserWarning, match="0.0.2"):
        assert resolve_model("tiny-two", registry=Registry(), home=home).folder == complete  # what an engine loads
    with pytest.warns(UserWarning):
        (choice,) = list_models(Registry(), [], home)
    assert choice.spec == "tiny-two" and choice.found and "v0.0.1" in choice.text, choice
    described = describe_model("tiny-two@0.0.2", Registry(), home)
    assert not described.found and "v0.0.2" in described.text and str(broken) in described.tooltip
    assert "safetensors" in described.tooltip
    assert describe_model("tiny-two@0.0.1", Registry(), home).found  # the complete version is still usable by version


def test_a_registry_model_whose_bundled_folder_lacks_weights_is_not_found(tmp_path, model_folder):
    from SDSegLib.model_library import describe_model
    from SDSegLogic.registry import Registry

    document = json.loads((REPO / "Resources" / "models.json").read_text(encoding="utf-8"))
    document.pop("$schema", None)
    entry = document["models"][0]
    entry["path"] = "Models/bundled"
    (tmp_path / "Resources").mkdir()
    (tmp_path / "Resources" / "models.json").write_text(json.dumps(document), encoding="utf-8")  # paths from tmp_path
    bundled = _without_weights(shutil.copytree(model_folder, tmp_path / "Models" / "bundled"))
    registry = Registry.load(tmp_path / "Resources" / "models.json")
    choice = describe_model(entry["id"], registry, tmp_path / "empty-home")
    assert not choice.found and choice.text == f"{entry['title']} (v{entry['version']}, not a usable model folder)"
    assert str(bundled) in choice.tooltip and "safetensors" in choice.tooltip
    for weights in model_folder.glob("*.safetensors"):  # the weights back: usable again
        shutil.copy2(weights, bundled)
    assert describe_model(entry["id"], registry, tmp_path / "empty-home").found
