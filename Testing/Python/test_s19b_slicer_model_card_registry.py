"""``SDSegModuleLogic.modelCard`` resolves the model with the logic's own registry, as every other model lookup does.

With ``$SDSEG_REGISTRY`` pointing to a models.json that cannot be read, the panel says so once and goes
on with an empty registry (model folders and imported models still work); modelCard alone loaded the
registry file again and failed with "model registry is not valid JSON" for a plain model folder, so a
script (``logic.modelCard(folder)``) or a result whose engine sent no card could not get the card. A
registry given to the logic (a custom one) was ignored the same way: a model it lists had no card.
Against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be installed here) and a real tiny model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Tuple

from slicer_logic_helpers import model_folder  # noqa: F401 - pytest fixture; puts SDSegLib on sys.path


def write_site_registry(model_folder: Path, tmp_path: Path) -> Tuple[dict, Path, Path]:
    """A site's registry listing a copy of ``model_folder``: ``tmp_path/site/Resources/models.json``.

    Returns:
        (the model's card as read from ``model_folder``, the copied model folder, the models.json path).
    """
    card = json.loads((model_folder / "model_card.json").read_text(encoding="utf-8"))
    root = tmp_path / "site"
    site_model = shutil.copytree(model_folder, root / "models" / "site-model")
    (root / "Resources").mkdir()
    entry = {"id": card["model_id"], "version": card["version"], "title": "Site model", "task": "segmentation",
             "modality": "CT", "classes": ["liver"], "license": "MIT", "path": "models/site-model"}
    (root / "Resources" / "models.json").write_text(json.dumps({"format_version": 1, "models": [entry]}), encoding="utf-8")
    return card, site_model, root / "Resources" / "models.json"


def test_model_card_of_a_folder_with_an_unreadable_registry_file(monkeypatch, model_folder, tmp_path):
    import fake_slicer

    fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    broken = tmp_path / "models.json"
    broken.write_text("{ not json", encoding="utf-8")
    monkeypatch.setenv("SDSEG_REGISTRY", str(broken))
    logic = SDSegModuleLogic()
    expected = json.loads((model_folder / "model_card.json").read_text(encoding="utf-8"))
    assert logic.describeModel(str(model_folder)).found  # the rest of the panel works with the empty registry
    assert logic.modelCard(str(model_folder)) == expected  # before: ModelCardError "not valid JSON"
    assert "Model registry unreadable" in "\n".join(logic.drainLog())


def test_model_card_of_a_model_only_the_logic_s_registry_lists(monkeypatch, model_folder, tmp_path):
    import fake_slicer

    fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic
    from SDSegLogic.registry import Registry

    card, _, site_registry = write_site_registry(model_folder, tmp_path)
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "home"))  # nothing imported: only the site registry has it
    logic = SDSegModuleLogic()
    logic._registry = Registry.load(site_registry)  # the site's registry, given to the logic
    assert logic.modelSummary(card["model_id"])  # the card label finds it
    assert logic.modelCard(card["model_id"]) == card  # before: ModelNotFoundError (the default registry was used)
