"""First use of the Slicer module on a hospital PC: the model list and the warm engine after a model changes.

* a model imported over the one a warm local engine loaded (a newer version of the same id, the
  same id and version replaced) must not be segmented with the old weights: the engine restarts;
  an unchanged model keeps its warm engine;
* a recent or scene-saved model folder that still exists but lost its files is not offered as a
  usable model (Segment would only start an engine that dies).

The engine process, the tiny model and the model zips are real; 3D Slicer is not needed.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

from slicer_logic_helpers import REPO, model_folder  # noqa: F401 - model_folder is a pytest fixture; it puts SDSegLib on sys.path
from SDSegLib.engine_runner import EngineManager
from SDSegLib.model_library import describe_model, import_model_zip, list_models


def _registry():
    from SDSegLogic.registry import Registry

    return Registry.load(REPO / "Resources" / "models.json")


def _zip_version(folder: Path, version: str, archive: Path) -> Path:
    """A zip of ``folder`` (one top-level folder) whose model card says ``version``."""
    card = json.loads((folder / "model_card.json").read_text(encoding="utf-8"))
    card["version"] = version
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.iterdir()):
            data = json.dumps(card).encode("utf-8") if path.name == "model_card.json" else path.read_bytes()
            zf.writestr(f"{folder.name}/{path.name}", data)
    return archive


def _loaded_version(engines: EngineManager, spec: str) -> tuple:
    client = engines.client(spec, "cpu")
    try:
        return engines.process.pid, client.info()["model_card"]["version"]
    finally:
        client.close()


def test_a_model_imported_over_the_loaded_one_restarts_the_warm_engine(tmp_path, monkeypatch, model_folder):
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "sdseg"))  # the engine child resolves the id in the same cache
    home = tmp_path / "sdseg" / "models"
    spec, _ = import_model_zip(_zip_version(model_folder, "0.0.1", tmp_path / "v1.zip"), _registry(), home)
    logs = []
    engines = EngineManager(log=logs.append, extra_args=("--threads", "1"))
    try:
        first_pid, version = _loaded_version(engines, spec)
        assert version == "0.0.1"
        assert _loaded_version(engines, spec) == (first_pid, "0.0.1")  # unchanged model: the warm engine is kept
        newer, _ = import_model_zip(_zip_version(model_folder, "0.0.2", tmp_path / "v2.zip"), _registry(), home)
        assert newer == spec  # the id the panel keeps selected now means 0.0.2 (its card shows 0.0.2)
        pid, version = _loaded_version(engines, spec)
        assert version == "0.0.2" and pid != first_pid, "the warm engine still segments with the replaced weights"
        assert any("files of model tiny-two changed" in line for line in logs)
        assert _loaded_version(engines, spec) == (pid, "0.0.2")
    finally:
        engines.close()


def test_a_model_folder_that_lost_its_weights_is_not_offered_as_usable(tmp_path, model_folder):
    folder = shutil.copytree(model_folder, tmp_path / "on-share" / "tiny-two")
    assert describe_model(str(folder), _registry(), tmp_path / "home").found
    for weights in folder.glob("*.safetensors"):  # a half-synced network share, weights deleted by a clean-up
        weights.unlink()
    choice = describe_model(str(folder), _registry(), tmp_path / "home")  # the model saved in the scene
    assert not choice.found and "(not found)" not in choice.text and "not a usable model folder" in choice.text
    assert "safetensors" in choice.tooltip and str(folder) in choice.tooltip
    assert [c.spec for c in list_models(_registry(), [str(folder)], tmp_path / "home")] == ["sdseg-demo-ct-lite"]


def test_a_registry_model_shows_the_version_of_the_newer_copy_imported_over_it(tmp_path):
    from engine_fixtures import make_tiny_model
    from SDSegLogic.registry import resolve_model

    registry, home = _registry(), tmp_path / "home"
    listed = registry.get("sdseg-demo-ct-lite").version
    newer = make_tiny_model(tmp_path / "release" / "sdseg-demo-ct-lite", model_id="sdseg-demo-ct-lite")
    spec, message = import_model_zip(_zip_version(newer, "9.0.0", tmp_path / "release.zip"), registry, home)
    assert spec == "sdseg-demo-ct-lite" and "9.0.0" in message
    assert resolve_model(spec, registry=registry, home=home).version == "9.0.0"  # what the engine will load
    choice = list_models(registry, [], home)[0]
    assert choice.spec == spec and choice.found
    assert "(v9.0.0, imported)" in choice.text and f"v{listed}" not in choice.text, choice.text
    assert str(home / spec / "9.0.0") in choice.tooltip and f"registry lists v{listed}" in choice.tooltip
    assert list_models(registry, [], tmp_path / "empty")[0].text.endswith(f"(v{listed})")  # nothing imported: as before
