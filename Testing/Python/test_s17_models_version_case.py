"""Versions that differ only in letter case (1.0.0-RC1, 1.0.0-rc1) are one version, on every system.

A version names a cache folder, and on Windows and macOS ``1.0.0-RC1`` and ``1.0.0-rc1`` are one
folder: there, a second import found the first "already installed" while ``--model id@1.0.0-rc1``
did not find it, and on Linux both were installed side by side. Ids are lower case only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_test_helpers import entry, make_model_folder, write_registry, zip_folder

from SDSegLogic.cli_models import model_rows
from SDSegLogic.errors import CheckpointError, ModelCardError
from SDSegLogic.model_folder import verify_model_folder
from SDSegLogic.model_zip import INSTALL_RECORD, import_zip
from SDSegLogic.registry import Registry, cache_folder, resolve_model


@pytest.fixture(scope="module")
def zips(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("zips")
    base = make_model_folder(root / "base")
    made = {}
    for version in ("1.0.0-RC1", "1.0.0-rc1"):
        folder = root / version
        shutil.copytree(base, folder)
        card = json.loads((folder / "model_card.json").read_text(encoding="utf-8"))
        (folder / "model_card.json").write_text(json.dumps({**card, "version": version}), encoding="utf-8")
        made[version] = zip_folder(folder, root / f"tiny-{version}.zip")
    return made


def _versions(home: Path) -> list:
    return sorted(p.name for p in (home / "tiny-test").iterdir())


def test_a_version_differing_only_in_case_is_already_installed(zips, tmp_path):
    home = tmp_path / "models"
    first = import_zip(zips["1.0.0-RC1"], Registry(), home)
    with pytest.raises(CheckpointError, match="already installed as version 1.0.0-RC1") as refused:
        import_zip(zips["1.0.0-rc1"], Registry(), home)
    assert "--force" in str(refused.value) and "case" in str(refused.value)
    assert _versions(home) == ["1.0.0-RC1"]
    # and it is found under either spelling, as the one folder it would be on Windows and macOS
    for spec in ("tiny-test@1.0.0-rc1", "tiny-test@1.0.0-RC1", "tiny-test"):
        assert resolve_model(spec, Registry(), home).folder == first.folder


def test_forcing_replaces_the_version_spelt_otherwise(zips, tmp_path):
    home = tmp_path / "models"
    import_zip(zips["1.0.0-RC1"], Registry(), home)
    installed = import_zip(zips["1.0.0-rc1"], Registry(), home, force=True)
    assert _versions(home) == ["1.0.0-rc1"] and installed.folder == home / "tiny-test" / "1.0.0-rc1"
    assert verify_model_folder(installed.folder) == []
    assert "tiny-1.0.0-rc1.zip" in (installed.folder / INSTALL_RECORD).read_text(encoding="utf-8")


def test_a_registry_listing_one_version_in_two_cases_is_refused(tmp_path):
    path = write_registry(tmp_path / "Resources" / "models.json", [entry(version="1.0.0-RC1"), entry(version="1.0.0-rc1")])
    with pytest.raises(ModelCardError, match="listed twice"):
        Registry.load(path)


def test_the_model_list_shows_a_listed_version_installed_in_another_case_once(zips, tmp_path):
    home = tmp_path / "models"
    import_zip(zips["1.0.0-RC1"], Registry(), home)
    registry = Registry.load(write_registry(tmp_path / "Resources" / "models.json",
                                            [entry(version="1.0.0-rc1", url="https://example.org/m.zip", sha256="0" * 64)]))
    rows = model_rows(registry, home)
    assert [(row["version"], row["status"]) for row in rows] == [("1.0.0-rc1", "installed")]


def test_an_id_in_upper_case_is_refused_with_the_lower_case_spelling(tmp_path):
    with pytest.raises(ModelCardError, match="folder-safe") as refused:
        cache_folder("Tiny-Test", "1.0.0", tmp_path)
    assert "'tiny-test'" in str(refused.value) and "lower-case" in str(refused.value)


def test_an_id_given_in_upper_case_is_not_found_with_a_hint(zips, tmp_path):
    from SDSegLogic.registry import ModelNotFoundError

    home = tmp_path / "models"
    import_zip(zips["1.0.0-rc1"], Registry(), home)
    with pytest.raises(ModelNotFoundError, match=r"did you mean 'tiny-test@1\.0\.0-RC1'\?"):
        resolve_model("Tiny-Test@1.0.0-RC1", Registry(), home)
    assert resolve_model("tiny-test@1.0.0-RC1", Registry(), home).folder == home / "tiny-test" / "1.0.0-rc1"
