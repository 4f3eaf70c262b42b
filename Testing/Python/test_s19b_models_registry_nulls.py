"""The registry refuses JSON ``null`` for an optional field, as Resources/models.schema.json does.

The schema (the contract) types every optional field (``"description": {"type": "string"}``, ...),
so ``null`` is not allowed: an optional field is left out, never set to null. The loader treated
null as "absent" and loaded such entries: ``"description": null`` gave ``entry.description is None``
where the code expects text, ``"deprecated": null`` a None flag. jsonschema confirms every refusal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_test_helpers import entry, write_registry

from SDSegLogic.errors import ModelCardError
from SDSegLogic.registry import Registry

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "Resources" / "models.schema.json").read_text(encoding="utf-8"))
OPTIONAL = sorted(set(SCHEMA["$defs"]["model"]["properties"]) - set(SCHEMA["$defs"]["model"]["required"]) - {"path"})


def _schema_errors(document: dict) -> list:
    jsonschema = pytest.importorskip("jsonschema")
    return list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document))


@pytest.mark.parametrize("key", OPTIONAL)
def test_null_for_an_optional_field_is_refused_naming_it(key, tmp_path):
    path = write_registry(tmp_path / "Resources" / "models.json", [entry(**{key: None})])
    assert _schema_errors(json.loads(path.read_text()))  # the contract refuses it
    with pytest.raises(ModelCardError) as caught:
        Registry.load(path)
    text = str(caught.value)
    assert "models[0]" in text and key in text and "null" in text and "models.schema.json" in text


def test_null_path_beside_a_url_is_refused(tmp_path):
    fields = {"path": None, "url": "https://example.org/m.zip", "sha256": "0" * 64}
    path = write_registry(tmp_path / "Resources" / "models.json", [entry(**fields)])
    assert _schema_errors(json.loads(path.read_text()))
    with pytest.raises(ModelCardError, match="path"):
        Registry.load(path)


def test_optional_fields_left_out_still_load(tmp_path):
    path = write_registry(tmp_path / "Resources" / "models.json", [entry(description="d", deprecated=False)])
    assert not _schema_errors(json.loads(path.read_text()))
    loaded = Registry.load(path).entries[0]
    assert loaded.description == "d" and loaded.deprecated is False and loaded.url is None
