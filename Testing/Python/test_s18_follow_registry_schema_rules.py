"""The registry enforces models.schema.json's ``modality`` enum and ``path`` character pattern.

Before, ``"modality": "ct"`` (or ``"PET"``) and a ``path`` with a space, a colon, a non-ASCII letter or a
leading ``-`` or ``.`` loaded without complaint although the schema refuses them (jsonschema confirms each
refusal here). The refusal names the entry, the key, the value and what is allowed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_test_helpers import entry, write_registry

from SDSegLogic.errors import ModelCardError
from SDSegLogic.registry import Registry

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "Resources" / "models.schema.json").read_text(encoding="utf-8"))
MODEL = SCHEMA["$defs"]["model"]["properties"]


def _schema_refuses(document: dict) -> bool:
    jsonschema = pytest.importorskip("jsonschema")
    return bool(list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document)))


def _refusal(tmp_path: Path, **fields) -> str:
    """The registry's refusal of one ``entry(**fields)``, after checking that the schema refuses it too."""
    path = write_registry(tmp_path / "Resources" / "models.json", [entry(**fields)])
    assert _schema_refuses(json.loads(path.read_text()))
    with pytest.raises(ModelCardError) as caught:
        Registry.load(path)
    return str(caught.value)


@pytest.mark.parametrize("modality", ["ct", "PET", "CT ", "Fundus", "x-ray"])
def test_a_modality_outside_the_enum_is_refused(modality, tmp_path):
    text = _refusal(tmp_path, modality=modality)
    assert "models[0]" in text and "tiny-test" in text and "modality" in text and repr(modality) in text
    assert all(allowed in text for allowed in MODEL["modality"]["enum"])


@pytest.mark.parametrize("folder", ["Models/my model", "Models/t\u00eate", "Models/a:b", "-x/model", ".hidden/model",
                                    "Models/a*b", "Models/a\tb"])
def test_a_path_outside_the_character_pattern_is_refused(folder, tmp_path):
    text = _refusal(tmp_path, path=folder)
    assert "models[0]" in text and "tiny-test" in text and "path" in text and repr(folder) in text
    assert "A-Z" in text  # the allowed characters


@pytest.mark.parametrize("modality", MODEL["modality"]["enum"])
def test_every_allowed_modality_loads(modality, tmp_path):
    path = write_registry(tmp_path / "Resources" / "models.json", [entry(modality=modality, path="Models/a_b-1.2/c")])
    assert not _schema_refuses(json.loads(path.read_text()))
    assert Registry.load(path).entries[0].modality == modality


def test_the_bundled_registry_passes_the_schema_and_loads():
    path = REPO / "Resources" / "models.json"
    assert not _schema_refuses(json.loads(path.read_text(encoding="utf-8")))
    entries = Registry.load(path).entries
    assert entries and all(e.modality in MODEL["modality"]["enum"] for e in entries)
    assert all(re.fullmatch(MODEL["path"]["pattern"], e.path) for e in entries if e.path)


def test_the_enforced_rules_are_the_schemas():
    from SDSegLogic.registry_fields import MODALITIES, PATH_PATTERN

    assert list(MODALITIES) == MODEL["modality"]["enum"]
    assert f"^{PATH_PATTERN}$" == MODEL["path"]["pattern"]
