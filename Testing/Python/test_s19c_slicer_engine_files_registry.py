"""The warm engine's model-files check resolves the model with the Slicer logic's registry.

``model_files_signature`` loaded the registry file again on every Segment. When that file became
unreadable after the panel had read it (``$SDSEG_REGISTRY`` on a share that went away, a models.json
being rewritten), every Segment found "the files of model ... changed", stopped the warm engine and
started a new one, which could not load the model (the engine reads the registry too): a run that
the warm engine would have done failed. Resolved with the logic's registry (read once, as the model
list and the card are), unchanged files keep the warm engine, and changed weights of a model that
only the logic's registry lists change the signature (the engine is restarted for them).

Against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be installed here), the real engine and a
real tiny model.
"""

from __future__ import annotations

import shutil

import numpy as np

from slicer_logic_helpers import model_folder  # noqa: F401 - pytest fixture; puts SDSegLib on sys.path
from test_s19b_slicer_model_card_registry import write_site_registry


def _break_registry(tmp_path, monkeypatch):
    broken = tmp_path / "models.json"
    broken.write_text("{ not json", encoding="utf-8")
    monkeypatch.setenv("SDSEG_REGISTRY", str(broken))


def test_a_registry_file_unreadable_after_start_keeps_the_warm_engine(monkeypatch, model_folder, tmp_path):
    import fake_slicer

    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.engine_runner import EngineManager
    from SDSegLib.module_logic import SDSegModuleLogic

    logs = []
    engines = EngineManager(log=logs.append, extra_args=("--threads", "1"))
    logic = SDSegModuleLogic(engineManager=engines)
    folder = shutil.copytree(model_folder, tmp_path / "model")
    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros((2, 12, 16), np.int16)))
    try:
        logic.registry()  # the panel read the registry when it opened
        first = logic.startJob(volume, model=str(folder), device="cpu")
        assert first.wait(120)[-1].kind == "done"
        pid = engines.process.pid
        _break_registry(tmp_path, monkeypatch)  # the file goes bad while the engine is warm
        again = logic.startJob(volume, model=str(folder), device="cpu")
        events = again.wait(120)
        assert events[-1].kind == "done", (events[-1], "\n".join(logs))  # before: a restarted engine that failed to load
        assert engines.process.pid == pid and not any("files of model" in line for line in logs), logs
    finally:
        engines.stop()


def test_changed_weights_of_a_model_only_the_logic_s_registry_lists_change_the_signature(monkeypatch, model_folder,
                                                                                          tmp_path):
    import fake_slicer

    fake_slicer.install(monkeypatch)
    from SDSegLib.model_library import model_files_signature
    from SDSegLib.module_logic import SDSegModuleLogic
    from SDSegLogic.registry import Registry

    card, site_model, site_registry = write_site_registry(model_folder, tmp_path)
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "home"))  # nothing imported: only the site registry has it
    logic = SDSegModuleLogic()
    logic._registry = Registry.load(site_registry)
    _break_registry(tmp_path, monkeypatch)
    registry = logic._registryOrEmpty()
    before = model_files_signature(card["model_id"], registry)
    assert before and before[0] == str(site_model.resolve())
    weights = next(site_model.glob("*.safetensors"))
    data = weights.read_bytes()
    weights.unlink()
    weights.write_bytes(data[:-8] + b"replaced")  # new weights copied in: another file
    assert model_files_signature(card["model_id"], registry) != before
