"""A models.json with a key given twice in one object is refused, naming the file and the key.

Python's json keeps the last of two equal keys, so a registry hand-merged from two files (two "models"
lists) silently lost every model of the first list, and an entry with two "path" keys pointed to one of
them without a word.
"""

from __future__ import annotations

import json

import pytest
from cli_test_helpers import entry

from SDSegLogic.errors import ModelCardError
from SDSegLogic.registry import Registry


def _text(value) -> str:
    return json.dumps(value)


def test_two_models_lists_are_refused_instead_of_hiding_the_first(tmp_path):
    first, second = entry("model-a"), entry("model-b")
    path = tmp_path / "Resources" / "models.json"
    path.parent.mkdir()
    path.write_text('{"format_version": 1, "models": [%s], "models": [%s]}' % (_text(first), _text(second)),
                    encoding="utf-8")
    with pytest.raises(ModelCardError) as caught:
        Registry.load(path)
    assert str(path) in str(caught.value) and "'models' appears twice" in str(caught.value)


def test_a_key_twice_inside_one_entry_is_refused(tmp_path):
    text = _text(entry("model-a"))[:-1] + ', "license": "other"}'
    path = tmp_path / "models.json"
    path.write_text('{"format_version": 1, "models": [%s]}' % text, encoding="utf-8")
    with pytest.raises(ModelCardError, match="'license' appears twice"):
        Registry.load(path)


def test_a_registry_without_repeated_keys_still_loads(tmp_path):
    path = tmp_path / "models.json"
    path.write_text(_text({"format_version": 1, "models": [entry("model-a")]}), encoding="utf-8")
    assert Registry.load(path).ids() == ["model-a"]
