"""``sdseg models info ID`` describes the version it resolves to, not the registry's other version.

With the registry listing ``tiny-test`` 1.0.0 (bundled) and a 1.1.0 imported into the cache,
``info tiny-test`` resolves to the 1.1.0 folder but printed the header, task, modality, licence
and classes of the registry's 1.0.0 entry next to ``folder: .../1.1.0 (cache)`` and ``model card:
tiny-test 1.1.0``, with a class "mismatch" warning comparing the two versions; ``--json`` gave
``registry_entry`` 1.0.0 beside the 1.1.0 install. The description now comes from the card that
is resolved; the registry's entry is only named as describing another version.
"""

from __future__ import annotations

import json
import shutil

from cli_segment_fixtures import isolated_home, run, tiny_folder  # noqa: F401 (fixtures)
from cli_test_helpers import entry, make_model_folder, write_registry, zip_folder

from SDSegLogic.cli import EXIT_OK

REGISTRY_FIELDS = {"title": "REGISTRY TITLE of 1.0.0", "license": "REGISTRY-LICENCE-1.0.0", "modality": "MR",
                   "task": "registry-task-1.0.0", "classes": ["spleen"]}


def _newer_in_cache(tiny_folder, tmp_path, monkeypatch, isolated_home, capsys):
    """Registry: bundled tiny-test 1.0.0 with :data:`REGISTRY_FIELDS`; cache: an imported tiny-test 1.1.0."""
    card = json.loads((tiny_folder / "model_card.json").read_text())
    shutil.copytree(tiny_folder, tmp_path / "repo" / "Models" / "tiny-test")
    registry = write_registry(tmp_path / "repo" / "Resources" / "models.json",
                              [entry(version=card["version"], **REGISTRY_FIELDS)])
    monkeypatch.setenv("SDSEG_REGISTRY", str(registry))
    newer = make_model_folder(tmp_path / "newer" / "tiny-test", version="1.1.0")
    code, out, err = run(["models", "import", zip_folder(newer, tmp_path / "tiny-test-1.1.0.zip")], capsys)
    assert code == EXIT_OK, (out, err)
    return json.loads((newer / "model_card.json").read_text())


def test_the_report_describes_the_resolved_card(tiny_folder, tmp_path, monkeypatch, isolated_home, capsys):
    card = _newer_in_cache(tiny_folder, tmp_path, monkeypatch, isolated_home, capsys)
    code, out, _ = run(["models", "info", "tiny-test"], capsys)
    lines = out.splitlines()
    assert code == EXIT_OK and "1.1.0" in next(line for line in lines if "folder:" in line), out
    assert lines[0].startswith(f"tiny-test 1.1.0: {card['task']}"), out
    assert f"modality: {card['modality']}; licence: {card['license']}" in out, out
    for value in ("REGISTRY TITLE", "REGISTRY-LICENCE", "registry-task", "classes: spleen", "modality: MR"):
        assert value not in out or "1.0.0" in next(line for line in lines if value in line), (value, out)
    assert not any(line.startswith("tiny-test 1.0.0") for line in lines), out
    assert "warning" not in out, out  # no class "mismatch" between two different versions
    assert "1.0.0" in out, out  # the registry's entry is named as another version


def test_the_json_document_keeps_the_other_version_apart(tiny_folder, tmp_path, monkeypatch, isolated_home, capsys):
    _newer_in_cache(tiny_folder, tmp_path, monkeypatch, isolated_home, capsys)
    code, document, _ = run(["models", "info", "tiny-test", "--json"], capsys)
    data = json.loads(document)
    assert code == EXIT_OK and data["model_card"]["version"] == "1.1.0", data
    assert data["registry_entry"] is None or data["registry_entry"]["version"] == "1.1.0", data
    assert data["warnings"] == [], data


def test_a_listed_version_still_shows_its_registry_entry(tiny_folder, tmp_path, monkeypatch, isolated_home, capsys):
    """``tiny-test@1.0.0`` resolves to the bundled 1.0.0 folder: its registry entry describes it."""
    _newer_in_cache(tiny_folder, tmp_path, monkeypatch, isolated_home, capsys)
    code, out, _ = run(["models", "info", "tiny-test@1.0.0"], capsys)
    assert code == EXIT_OK and out.splitlines()[0] == f"tiny-test 1.0.0: {REGISTRY_FIELDS['title']}", out
    _, document, _ = run(["models", "info", "tiny-test@1.0.0", "--json"], capsys)
    assert json.loads(document)["registry_entry"]["version"] == "1.0.0"
