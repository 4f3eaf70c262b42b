"""The registry's required text fields and class list are checked as models.schema.json states them.

``title``, ``task``, ``modality`` and ``license`` are required non-empty strings and ``classes`` a
non-empty list (schema: ``minLength: 1``, ``minItems: 1``). A ``null`` value passed the type check
(it skipped absent and null alike) and reached the Slicer panel, whose model summary escapes
``entry.task`` and failed with AttributeError; an empty string or list was listed as a model
with no title or no segment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cli_test_helpers import entry, write_registry

from SDSegLogic.errors import ModelCardError
from SDSegLogic.registry import Registry

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "Resources" / "models.schema.json"


@pytest.mark.parametrize("key, value", [
    ("title", None), ("task", None), ("modality", None), ("license", None),
    ("title", ""), ("task", ""), ("license", ""), ("classes", []),
])
def test_null_or_empty_required_fields_are_refused_naming_the_key(key, value, tmp_path):
    path = write_registry(tmp_path / "Resources" / "models.json", [entry(**{key: value})])
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    assert list(validator.iter_errors(json.loads(path.read_text()))), "the schema itself refuses this entry"
    with pytest.raises(ModelCardError, match=rf"models\.json: models\[0\]: {key} "):
        Registry.load(path)


def test_every_entry_the_registry_accepts_has_a_panel_summary(tmp_path):
    sys.path.insert(0, str(REPO / "SDSegExtension"))
    try:
        from SDSegLib.model_info import model_summary_html
    finally:
        sys.path.remove(str(REPO / "SDSegExtension"))
    path = write_registry(tmp_path / "Resources" / "models.json", [entry(description="", references=[])])
    for item in Registry.load(path).entries:
        assert item.task in model_summary_html(item, "")
