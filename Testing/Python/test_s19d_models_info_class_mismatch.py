"""``sdseg models info ID`` says when the registry's classes differ from the installed card's.

A registry entry listing ``["spleen"]`` for a model whose card segments ``liver`` was shown as
``classes: spleen`` next to ``segments: 1=liver`` with no word about the contradiction, and the
``--json`` document carried both lists without a warning; a script or a person took the registry
line for what the model writes.
"""

from __future__ import annotations

import json
import shutil

from cli_segment_fixtures import run, tiny_folder  # noqa: F401 (fixture)
from cli_test_helpers import entry, write_registry

from SDSegLogic.cli import EXIT_OK


def _bundled(tmp_path, tiny_folder, monkeypatch, classes):
    version = json.loads((tiny_folder / "model_card.json").read_text())["version"]
    shutil.copytree(tiny_folder, tmp_path / "repo" / "Models" / "tiny-test")
    registry = write_registry(tmp_path / "repo" / "Resources" / "models.json", [entry(version=version, classes=classes)])
    monkeypatch.setenv("SDSEG_REGISTRY", str(registry))
    return [c["name"] for c in json.loads((tiny_folder / "model_card.json").read_text())["classes"]]


def test_a_registry_listing_other_classes_is_warned(tiny_folder, tmp_path, monkeypatch, capsys):
    card_classes = _bundled(tmp_path, tiny_folder, monkeypatch, ["spleen"])
    assert "spleen" not in card_classes
    code, out, _ = run(["models", "info", "tiny-test"], capsys)
    warnings = [line for line in out.splitlines() if line.strip().startswith("warning:")]
    assert code == EXIT_OK and len(warnings) == 1, out
    assert "spleen" in warnings[0] and all(name in warnings[0] for name in card_classes)
    json_code, document, _ = run(["models", "info", "tiny-test", "--json"], capsys)
    data = json.loads(document)
    assert json_code == EXIT_OK and len(data["warnings"]) == 1 and "spleen" in data["warnings"][0]


def test_matching_classes_give_no_warning(tiny_folder, tmp_path, monkeypatch, capsys):
    card_classes = _bundled(tmp_path, tiny_folder, monkeypatch, None)
    registry = tmp_path / "repo" / "Resources" / "models.json"
    document = json.loads(registry.read_text())
    document["models"][0]["classes"] = [name.upper() for name in card_classes]  # letter case does not count
    registry.write_text(json.dumps(document))
    code, out, _ = run(["models", "info", "tiny-test"], capsys)
    assert code == EXIT_OK and "warning" not in out
    _, document, _ = run(["models", "info", "tiny-test", "--json"], capsys)
    assert json.loads(document)["warnings"] == []
