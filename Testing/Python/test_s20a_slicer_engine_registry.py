"""The engine the Slicer panel starts resolves the model with the panel's own registry.

The Slicer logic has its own registry (a site registry given to it, or an empty one when the
registry file is unreadable): its model list, model card and the warm engine's files check resolve
the model with it. The engine process the panel started resolved ``--model`` with
``$SDSEG_REGISTRY`` / the default registry instead, so a model that only the logic's registry lists
(or, with an unreadable registry file, that only the models folder holds) was shown in the panel
but could not be served: the engine exited with code 3 ("cannot load model"). The engine now takes
``--registry PATH`` (``""``: no registry file) and the manager passes the logic's.

Against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be installed here), the real engine
process and a real tiny model.
"""

from __future__ import annotations

import json
import shutil

import numpy as np

from slicer_logic_helpers import model_folder  # noqa: F401 - pytest fixture; puts SDSegLib on sys.path
from test_s19b_slicer_model_card_registry import write_site_registry


def _segment(monkeypatch, logic_registry, model: str):
    """Run one job of the fake Slicer logic holding ``logic_registry`` (None: the logic reads its own);
    returns (last event, the logic's and the engine's log lines)."""
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.engine_runner import EngineManager
    from SDSegLib.module_logic import SDSegModuleLogic

    logs = []
    engines = EngineManager(log=logs.append, extra_args=("--threads", "1", "--no-warmup"))
    logic = SDSegModuleLogic(engineManager=engines)
    if logic_registry is not None:
        logic._registry = logic_registry  # the attribute the logic reads its registry into (model_catalog)
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros((2, 12, 16), np.int16)))
    try:
        assert logic.describeModel(model).found  # the panel lists and resolves it
        events = logic.startJob(volume, model=model, device="cpu").wait(120)
        return events[-1], "\n".join(logic.drainLog() + logs) + "\n" + engines.log_tail(40)
    finally:
        engines.close()


def test_a_model_only_the_logic_s_registry_lists_is_served(monkeypatch, model_folder, tmp_path):
    from SDSegLogic.registry import Registry

    card, _, site_registry = write_site_registry(model_folder, tmp_path)
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "home"))  # nothing imported: only the site registry has it
    monkeypatch.delenv("SDSEG_REGISTRY", raising=False)  # the engine's own default registry does not list it
    last, log = _segment(monkeypatch, Registry.load(site_registry), card["model_id"])
    assert last.kind == "done", (last, log)  # before: error engine_died, "cannot load model 'tiny-two'"


def test_an_imported_model_is_served_when_the_registry_file_is_unreadable(monkeypatch, model_folder, tmp_path):
    from SDSegLogic.registry import cache_folder

    card = json.loads((model_folder / "model_card.json").read_text(encoding="utf-8"))
    home = tmp_path / "home"
    monkeypatch.setenv("SDSEG_HOME", str(home))
    shutil.copytree(model_folder, cache_folder(card["model_id"], card["version"], home / "models"))  # imported
    broken = tmp_path / "models.json"
    broken.write_text("{ not json", encoding="utf-8")
    monkeypatch.setenv("SDSEG_REGISTRY", str(broken))
    last, log = _segment(monkeypatch, None, card["model_id"])  # the logic reads the broken file itself
    assert last.kind == "done", (last, log)  # before: the engine read the broken file: "model registry is not valid JSON"
    assert "Model registry unreadable" in log, log  # said once; it went on with an empty registry (models folder only)


def test_the_engine_s_registry_option(monkeypatch, model_folder, tmp_path):
    import pytest

    from SDSegLogic.errors import ModelCardError
    from SDSegLogic.registry import ModelNotFoundError
    from SDSegLogic.server.__main__ import build_parser, resolve_model

    card, site_model, site_registry = write_site_registry(model_folder, tmp_path)
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SDSEG_REGISTRY", raising=False)
    assert build_parser().parse_args(["--model", "x", f"--registry={site_registry}"]).registry == str(site_registry)
    assert resolve_model(card["model_id"], str(site_registry)) == site_model  # the id resolves with the named file
    with pytest.raises(ModelNotFoundError, match="not in the registry"):
        resolve_model(card["model_id"], "")  # no registry file, nothing imported: not found
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json", encoding="utf-8")
    assert resolve_model(str(model_folder), str(broken)) == model_folder  # a folder needs no registry
    with pytest.raises(ModelCardError, match="--registry"):  # an id does: the message names the option
        resolve_model(card["model_id"], str(broken))
