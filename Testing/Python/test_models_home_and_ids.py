"""Where the model cache is and what may name its folders: $SDSEG_HOME, model ids, versions, registry files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_test_helpers import copy_model, entry, write_registry, zip_folder
from engine_test_helpers import tiny_config, tiny_model
from test_importers import _official_state
from test_registry import home, tiny_folder  # noqa: F401 - pytest fixtures (a tiny model folder, a models home)

from SDSegLogic.cli import EXIT_MODEL
from SDSegLogic.cli_models import environment_report
from SDSegLogic.errors import ModelCardError
from SDSegLogic.importers import import_official_checkpoint
from SDSegLogic.model_folder import verify_model_folder
from SDSegLogic.model_zip import import_zip
from SDSegLogic.registry import ModelNotFoundError, Registry, cache_folder, models_home, resolve_model

REPO = Path(__file__).resolve().parents[2]


def _with_card(folder: Path, target: Path, **changes) -> Path:
    model = copy_model(folder, target)
    card = json.loads((model / "model_card.json").read_text(encoding="utf-8"))
    card.update(changes)
    (model / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    return model


# ---------------------------------------------------------------------- $SDSEG_HOME
def test_a_relative_sdseg_home_is_refused_instead_of_naming_one_cache_per_working_directory(tiny_folder, tmp_path):
    """`cd a && sdseg models import` and `cd b && sdseg models list` (or the engine, started elsewhere) must agree."""
    archive = zip_folder(tiny_folder, tmp_path / "m.zip")
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    env = dict(os.environ, SDSEG_HOME="sdseg-home", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    imported = subprocess.run([sys.executable, "-m", "SDSegLogic", "models", "import", str(archive)], cwd=first, env=env,
                              capture_output=True, text=True)
    listed = subprocess.run([sys.executable, "-m", "SDSegLogic", "models", "list", "--json"], cwd=second, env=env,
                            capture_output=True, text=True)
    for run in (imported, listed):
        assert run.returncode == EXIT_MODEL, run.stdout + run.stderr
        assert "SDSEG_HOME" in run.stderr and "absolute path" in run.stderr
    assert str(first.resolve() / "sdseg-home") in imported.stderr  # where it would have gone, as an absolute example
    assert list(first.iterdir()) == [] and list(second.iterdir()) == []


def test_sdseg_info_reports_a_relative_sdseg_home_instead_of_a_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SDSEG_HOME", "sdseg-home")
    with pytest.raises(ModelNotFoundError, match="relative path 'sdseg-home'"):
        models_home()
    assert "SDSEG_HOME" in environment_report()["models_home"]
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "abs"))
    assert models_home() == tmp_path / "abs" / "models"



def test_the_compiled_kernel_caches_follow_the_same_sdseg_home_rule(monkeypatch, tmp_path):
    """The AOT and inductor caches lie under the same root as the models: refused when relative, ``~`` expanded."""
    from SDSegLogic.compiled import default_cache_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SDSEG_HOME", "sdseg-home")
    with pytest.raises(ModelNotFoundError, match="relative path 'sdseg-home'"):
        default_cache_dir()
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("SDSEG_HOME", "~/cache")
    assert default_cache_dir() == tmp_path / "user" / "cache" / "compiled"
    assert models_home() == tmp_path / "user" / "cache" / "models"

# ---------------------------------------------------------------------- ids and versions that name folders
@pytest.mark.parametrize("model_id, version", [
    ("con", "1.0.0"), ("nul", "1.0.0"), ("aux.v2", "1.0.0"), ("com1", "1.0.0"), ("lpt9", "1.0.0"),  # Windows devices
    ("tiny.", "1.0.0"), ("tiny-test", "1.0.0-rc."),  # Windows drops a trailing dot: "tiny." would install as "tiny"
    ("tiny-test\n", "1.0.0"), ("tiny-test", "1.0.0\n"),  # a line break in a folder name
])
def test_ids_and_versions_that_cannot_name_a_folder_everywhere_are_refused(model_id, version, tiny_folder, tmp_path, home):
    with pytest.raises(ModelCardError, match="folder-safe"):
        cache_folder(model_id, version, home)
    archive = zip_folder(_with_card(tiny_folder, tmp_path / "m", model_id=model_id, version=version), tmp_path / "m.zip")
    with pytest.raises(ModelCardError, match="folder-safe"):
        import_zip(archive, Registry(), home)
    assert [p.name for p in home.iterdir()] == []
    with pytest.raises(ModelCardError, match="folder-safe"):
        Registry.load(write_registry(tmp_path / "Resources" / "models.json", [entry(model_id, version)]))


@pytest.mark.parametrize("model_id", ["console", "com10", "nullable", "tiny.v2", "a" * 64])
def test_ids_that_only_resemble_reserved_names_still_install(model_id, tiny_folder, tmp_path, home):
    archive = zip_folder(_with_card(tiny_folder, tmp_path / "m", model_id=model_id), tmp_path / "m.zip")
    installed = import_zip(archive, Registry(), home)
    assert installed.folder == home / model_id / "1.0.0" and verify_model_folder(installed.folder) == []


# ---------------------------------------------------------------------- placeholder cards of imported checkpoints
def _checkpoint(path: Path) -> Path:
    torch.save({"state_dict": _official_state(tiny_model(seed=0))}, path)
    return path


def test_a_placeholder_card_never_takes_a_registry_id(tmp_path, home):
    """A checkpoint file named like a registry model must not answer to that id once imported."""
    registry = Registry.load(write_registry(tmp_path / "Resources" / "models.json", [
        entry("btcv-model", "1.0.0", url="https://example.org/btcv-model.zip", sha256="0" * 64)]))
    ckpt = _checkpoint(tmp_path / "btcv-model.ckpt")
    report = import_official_checkpoint(ckpt, tmp_path / "converted", config=tiny_config())
    installed = import_zip(zip_folder(report.folder, tmp_path / "converted.zip"), registry, home)
    assert installed.model_id != "btcv-model"
    with pytest.raises(ModelNotFoundError, match="never downloads"):
        resolve_model("btcv-model", registry, home)
    assert resolve_model(installed.model_id, registry, home).folder == installed.folder


def test_a_placeholder_card_of_any_checkpoint_name_can_be_imported(tmp_path, home):
    """Lightning names checkpoints 'epoch=99-step=1000.ckpt'; people write 'SDSeg BTCV.ckpt'."""
    for number, name in enumerate(("epoch=99-step=1000.ckpt", "SDSeg BTCV (final).ckpt", "con.ckpt", "___.ckpt")):
        ckpt = _checkpoint(tmp_path / name)
        report = import_official_checkpoint(ckpt, tmp_path / f"converted-{number}", config=tiny_config())
        installed = import_zip(zip_folder(report.folder, tmp_path / f"{number}.zip"), Registry(), home)
        assert verify_model_folder(installed.folder) == []


# ---------------------------------------------------------------------- registry files
@pytest.mark.parametrize("key, value", [("classes", None), ("references", None), ("classes", 5)])
def test_registry_entries_with_a_null_list_are_refused_naming_the_key(key, value, tmp_path):
    bad = entry(**{key: value})
    with pytest.raises(ModelCardError, match=f"{key} {value!r} must be a list of names"):
        Registry.load(write_registry(tmp_path / "Resources" / "models.json", [bad]))


def test_a_registry_path_that_is_a_folder_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SDSEG_REGISTRY", str(tmp_path))
    with pytest.raises(ModelCardError, match="model registry cannot be read"):
        Registry.load()
    result = subprocess.run([sys.executable, "-m", "SDSegLogic", "models", "list"], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")))
    assert result.returncode == EXIT_MODEL and str(tmp_path) in result.stderr and "SDSEG_REGISTRY" in result.stderr
