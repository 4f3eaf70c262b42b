"""The Slicer module's model management, engine log, diagnostics and helper texts outside Slicer.

* model management (SDSegLib.model_library): the model list (registry, imported, recent folders),
  importing a model zip (asks before replacing, refuses a broken zip), using a model folder;
* the engine log kept across restarts and deleted on close, the error report and diagnostics text;
* the model summary (intended use in amber) and the CPU time estimate (SDSegLib.model_info);
* dependency checks: requirement parsing, missing packages, a declined install asked only once.

None of these needs the fake ``slicer`` module (Testing/Slicer/fake_slicer.py, which stands in for
3D Slicer in test_slicer_logic.py and test_slicer_widget.py because Slicer cannot be installed
here); the engine and the tiny model (slicer_logic_helpers.py) are real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slicer_logic_helpers import REPO, model_folder  # noqa: F401 - model_folder is a pytest fixture; it puts SDSegLib on sys.path
from SDSegLib.engine_runner import EngineManager
from SDSegLib.install import DependencyInstaller, InstallDeclined, missing_requirements, parse_requirement
from SDSegLogic.errors import SDSegError



def test_model_summary_shows_the_intended_use_in_amber():
    from SDSegLib.model_info import AMBER, model_summary_html, model_tooltip
    from SDSegLogic.registry import Registry

    entry = Registry.load(REPO / "Resources" / "models.json").get("sdseg-demo-ct-lite")
    intended = json.loads((REPO / "Resources" / "Models" / entry.id / "model_card.json").read_text())["intended_use"]
    text = model_summary_html(entry, "bundled", intended)
    line = text.split("<br>")[-1]
    assert f"color:{AMBER}" in line and "Intended use: DEMONSTRATION ONLY." in line and line.endswith("\u2026</span>")
    assert len(line) < len(intended) + 60  # shortened; the tooltip has the full text
    tip = model_tooltip(intended, entry.description)
    assert tip.startswith("Intended use: " + intended) and entry.description in tip
    assert "Intended use" not in model_summary_html(entry, "")


def test_time_estimate_text_only_for_the_cpu():
    from SDSegLib.model_info import time_estimate_text

    assert time_estimate_text(0.6, 67, "cpu") == "Estimate: under 1 min for 67 slices on CPU."
    assert time_estimate_text(0.6, 300, "cpu") == "Estimate: about 3 min for 300 slices on CPU."
    assert time_estimate_text(0.6, 30, "cpu", samples=4, steps=2) == "Estimate: about 3 min for 30 slices on CPU."
    assert time_estimate_text(0.6, 300, "auto").endswith("on CPU (much less if a GPU is found).")
    assert time_estimate_text(0.6, 300, "cuda") == "Fast on the GPU."
    assert time_estimate_text(None, 300, "cpu") == ""


# ---------------------------------------------------------------------- dependency checks
def test_requirement_parsing_and_missing_detection(tmp_path):
    assert parse_requirement("diffusers>=0.30") == ("diffusers", "0.30")
    with pytest.raises(ValueError, match="no exact pins"):
        parse_requirement("torch==2.0.1")
    installed = {"diffusers": "0.29.2", "safetensors": "0.4.5"}

    def version_of(name):
        from importlib.metadata import PackageNotFoundError

        if name not in installed:
            raise PackageNotFoundError(name)
        return installed[name]

    assert missing_requirements(["diffusers>=0.30", "safetensors>=0.4", "pynrrd"], version_of) == ["diffusers>=0.30", "pynrrd"]
    requirements = REPO / "SDSegExtension" / "Resources" / "requirements.txt"
    installer = DependencyInstaller(requirements, log=lambda text: None, confirm=lambda message: False, testing=True)
    assert all(">=" in line for line in installer.requirements)
    if installer.missing():
        with pytest.raises(InstallDeclined, match="testing mode"):
            installer.ensure()
    else:
        installer.ensure()  # nothing to do, and no prompt


def test_install_declined_asks_only_once(monkeypatch, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("surely-not-installed-package-xyz>=1.0\n")
    asked = []
    installer = DependencyInstaller(requirements, log=lambda text: None, confirm=lambda message: asked.append(message) or False)
    for _ in range(2):
        with pytest.raises(InstallDeclined, match="declined"):
            installer.ensure()
    assert len(asked) == 1 and "surely-not-installed-package-xyz>=1.0" in asked[0]


# ---------------------------------------------------------------------- model management (SDSegLib.model_library)
def _zip_model(folder: Path, archive: Path) -> Path:
    """A model zip as a user makes one: the model folder's files inside one top-level folder."""
    import zipfile

    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, f"{folder.name}/{path.name}")
    return archive


def _registry():
    from SDSegLogic.registry import Registry

    return Registry.load(REPO / "Resources" / "models.json")


def test_model_list_holds_registry_imported_and_recent_folder_models(tmp_path, model_folder):
    import shutil

    from SDSegLib.model_library import describe_model, list_models, remember_folder

    home = tmp_path / "home"
    shutil.copytree(model_folder, home / "tiny-two" / "0.0.1")  # as import_zip lays a model out
    (home / "tiny-two" / "not-a-version").mkdir()
    (home / "half-model" / "1.0.0").mkdir(parents=True)  # no weights: not offered
    not_a_model = tmp_path / "photos"
    not_a_model.mkdir()
    choices = list_models(_registry(), [str(model_folder), str(not_a_model), str(tmp_path / "deleted")], home)
    assert [c.spec for c in choices] == ["sdseg-demo-ct-lite", "tiny-two", str(model_folder)]
    assert [c.source for c in choices] == ["registry", "cache", "folder"]
    assert choices[1].text == "tiny-two (v0.0.1, imported)" and choices[2].text == "tiny-two (folder)"
    assert "tiny-two v0.0.1" in choices[2].tooltip and str(model_folder) in choices[2].tooltip
    gone = describe_model(str(tmp_path / "moved-away" / "my-model"), _registry(), home)  # a folder saved in a scene
    assert gone.text == "my-model (not found)" and not gone.found and "no such model folder" in gone.tooltip
    assert describe_model("tiny-two@0.0.1", _registry(), home).text == "tiny-two (v0.0.1, imported)"
    assert not describe_model("never-imported", _registry(), home).found
    recent = [f"/m/{i}" for i in range(5)]
    assert remember_folder(recent, "/m/3") == ["/m/3", "/m/0", "/m/1", "/m/2", "/m/4"]
    assert remember_folder(recent, "/m/new") == ["/m/new", "/m/0", "/m/1", "/m/2", "/m/3"]  # at most 5


def test_import_model_zip_installs_asks_before_replacing_and_refuses_a_broken_zip(tmp_path, model_folder):
    from SDSegLib.model_library import import_model_zip, zip_model_identity
    from SDSegLogic.registry import resolve_model

    home = tmp_path / "home"
    archive = _zip_model(model_folder, tmp_path / "tiny-two.zip")
    assert zip_model_identity(archive) == ("tiny-two", "0.0.1")
    spec, message = import_model_zip(archive, _registry(), home)
    assert spec == "tiny-two" and message.startswith("Imported tiny-two 0.0.1")
    assert resolve_model(spec, registry=_registry(), home=home).folder == home / "tiny-two" / "0.0.1"
    asked = []
    spec, message = import_model_zip(archive, _registry(), home, confirm_replace=lambda q: asked.append(q) or False)
    assert spec == "tiny-two" and "installed copy is kept" in message and "already installed" in asked[0]
    spec, message = import_model_zip(archive, _registry(), home, confirm_replace=lambda q: True)
    assert message.startswith("Replaced tiny-two 0.0.1")
    broken = tmp_path / "broken" / "tiny-two"
    broken.mkdir(parents=True)
    for path in model_folder.iterdir():
        data = path.read_bytes()
        (broken / path.name).write_bytes(data[:-8] + b"corrupt!" if path.suffix == ".safetensors" else data)
    (home / "tiny-two" / "0.0.1").rename(tmp_path / "moved")  # not installed: no question, a plain import
    with pytest.raises(SDSegError, match="fails verification"):
        import_model_zip(_zip_model(broken, tmp_path / "broken.zip"), _registry(), home)
    assert sorted(p.name for p in home.rglob("*") if p.is_file()) == []  # nothing left behind


def test_use_model_folder_verifies_the_weights(tmp_path, model_folder):
    import shutil

    from SDSegLib.model_library import check_model_folder, models_folder

    assert check_model_folder(model_folder) == str(model_folder.resolve())
    copy = shutil.copytree(model_folder, tmp_path / "copy")
    weights = next(copy.glob("unet*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"corrupt!")
    with pytest.raises(SDSegError, match="not a usable model folder.*sha256 mismatch"):
        check_model_folder(copy)
    with pytest.raises(SDSegError, match="no such folder"):
        check_model_folder(tmp_path / "nowhere")
    assert models_folder(tmp_path / "a" / "models").is_dir()  # "Open models folder" creates it


# ---------------------------------------------------------------------- engine log and diagnostics
def test_engine_log_kept_across_restarts_and_deleted_by_close(model_folder):
    logs = []
    engines = EngineManager(log=logs.append, extra_args=("--threads", "1"))
    assert engines.log_tail() == "" and engines.log_path is None
    engines.client(str(model_folder), "cpu").close()
    log_path, first = engines.log_path, engines.process
    assert log_path.is_file() and "ready on" in engines.log_tail()
    first.popen.kill()
    first.popen.wait()
    engines.client(str(model_folder), "cpu").close()  # restarted: the same log goes on
    assert engines.process.pid != first.pid and engines.log_path == log_path
    assert log_path.read_text().count("starting the engine: model") == 2
    assert any("exited" in line and "Last engine log lines:" in line and "ready on" in line for line in logs)
    engines.stop()
    assert log_path.is_file() and "engine stopped" in engines.log_tail()  # kept after the engine stopped
    engines.close()
    assert not log_path.parent.exists() and engines.log_path is None


def test_error_report_and_diagnostics_text():
    from SDSegLib.diagnostics import diagnostics_text, error_report
    from SDSegLib.engine_runner import ENGINE_LOG_CODES

    assert ENGINE_LOG_CODES == ("internal_error", "engine_died")
    tail = "12:00 sdseg-engine INFO ready\n12:01 sdseg-engine ERROR job 1 failed:\nTraceback ..."
    details, log_lines = error_report("unexpected KeyError in the engine: 'x'. The engine log has the details.", {"log_tail": tail})
    assert details == "Engine log (last lines):\n" + tail and log_lines == details
    assert error_report(f"the engine died. Last engine log lines:\n{tail}", {"log_tail": tail})[1] == ""  # quoted already
    assert error_report("bad input", {"code": "input_error"}) == ("", "")
    text = diagnostics_text("SDSeg engine 1.0; torch 2.4", "<i>CPU: 8 threads</i>", "/models/mine",
                            {"model_id": "mine", "version": "0.2.0"}, "/tmp/x/engine.log", tail, "5.8.1")
    for part in ("Slicer: 5.8.1", "Versions: SDSeg engine 1.0; torch 2.4", "Device: CPU: 8 threads",
                 "Model: /models/mine (mine v0.2.0)", "Engine: local", "Engine log: /tmp/x/engine.log", "ERROR job 1 failed"):
        assert part in text, part
    assert "remote sdseg://gpu:5000" in diagnostics_text("v", "", "m", {}, "", "", remote_url="sdseg://gpu:5000")
