"""The model card label shows the model the engine will load, also after the model's files changed.

* A newer copy of a registry model imported into the user's model folder is what the engine loads
  (``resolve_model`` takes the newest version), and the model list says so ("v9.0.0, imported");
  before, the card label under it still showed the registry's version and classes.
* A model folder rewritten on disk while Slicer runs (a retrained model exported over the old one,
  a newer version of an id imported with the ``sdseg`` command line) is what a restarted engine
  loads (the engine runner restarts on a changed file signature); before, the panel kept the card
  it had read first for the whole session: the card label, the intended use, the orientation that
  decides the slice axis, and the version that "Copy diagnostics" reports.

Against ``Testing/Slicer/fake_slicer.py`` (``SDSegModuleLogic`` needs the ``slicer`` module; MRML
cannot exist outside 3D Slicer) with a real tiny model folder; no engine is started.
"""

from __future__ import annotations

import json
import shutil

import numpy as np

from slicer_logic_helpers import REPO, model_folder  # noqa: F401 - model_folder is a pytest fixture; it puts SDSegLib on sys.path


def _logic(monkeypatch, tmp_path):
    import fake_slicer

    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "sdseg-home"))
    fake = fake_slicer.install(monkeypatch)
    from SDSegLib.module_logic import SDSegModuleLogic

    return fake, SDSegModuleLogic()


def _rewrite_card(folder, **changes):
    """Write the folder's model card again with ``changes``, as an export over the old folder does (new file)."""
    path = folder / "model_card.json"
    card = {**json.loads(path.read_text(encoding="utf-8")), **changes}
    path.unlink()
    path.write_text(json.dumps(card, indent=2), encoding="utf-8")


def test_the_card_label_shows_a_newer_imported_copy_of_a_registry_model(monkeypatch, tmp_path, model_folder):
    _, logic = _logic(monkeypatch, tmp_path)
    registry = logic.registry().get("sdseg-demo-ct-lite")
    newer = tmp_path / "sdseg-home" / "models" / "sdseg-demo-ct-lite" / "9.0.0"  # as import_zip lays a model out
    shutil.copytree(model_folder, newer)
    _rewrite_card(newer, model_id="sdseg-demo-ct-lite", version="9.0.0", task="retrained liver and spleen model")
    assert logic.describeModel("sdseg-demo-ct-lite").text.endswith("(v9.0.0, imported)")  # the list says so ...
    text = logic.modelSummary("sdseg-demo-ct-lite")  # ... and so does the card label below it
    assert "v9.0.0" in text and f"v{registry.version}" not in text, text
    assert "retrained liver and spleen model" in text and "installed (cache)" in text
    assert "Classes: liver, spleen" in text and "aorta" not in text  # the imported copy's classes, not the registry's


def test_the_card_follows_a_model_folder_rewritten_on_disk(monkeypatch, tmp_path, model_folder):
    fake, logic = _logic(monkeypatch, tmp_path)
    folder = shutil.copytree(model_folder, tmp_path / "my-model")
    spec = str(folder)
    assert "v0.0.1" in logic.modelSummary(spec) and logic.modelOrientation(spec) == "LPS"
    volume = fake.mrmlScene.AddNode(__import__("fake_slicer").FakeVolumeNode("CT", np.zeros((5, 6, 7), np.int16)))
    assert logic.sliceSelection(volume, spec).letter == "k"  # an axial model cuts an axial CT across k
    _rewrite_card(folder, version="0.0.2", orientation="LSP", intended_use="Coronal slices of adult CT, research only.")
    text = logic.modelSummary(spec)
    assert "v0.0.2" in text and "v0.0.1" not in text, text
    assert "Coronal slices of adult CT" in text and "Coronal slices of adult CT" in logic.modelToolTip(spec)
    assert logic.modelOrientation(spec) == "LSP"
    assert logic.sliceSelection(volume, spec).letter == "j"  # a coronal model cuts the same CT across j
    assert "(tiny-two v0.0.2)" in logic.diagnosticsText(spec)
    shutil.rmtree(folder)  # moved away: nothing stale is shown either
    assert logic.modelOrientation(spec) == "LPS" and "card not readable here" in logic.diagnosticsText(spec)
