"""One rule, one sentence for a version (or id) that cannot name a cache folder: card, cache and models.json.

The model card, ``cache_folder`` and the ``models.json`` field check each wrote their own message;
``models.json`` said ``id 'tiny' / version '1.0' must be a lower-case folder-safe id and a semantic version``
for an entry whose id was fine, and the card and the cache said different things about one version.
"""

from __future__ import annotations

import json

import pytest
from cli_test_helpers import entry

from SDSegLogic.errors import ModelCardError
from SDSegLogic.model_card import ModelCard, SegmentClass
from SDSegLogic.registry import Registry, cache_folder


def _registry_error(tmp_path, **fields) -> str:
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"format_version": 1, "models": [entry(**fields)]}), encoding="utf-8")
    with pytest.raises(ModelCardError) as caught:
        Registry.load(path)
    return str(caught.value)


def test_a_registry_version_that_is_not_semantic_is_named_alone(tmp_path):
    text = _registry_error(tmp_path, model_id="tiny", version="1.0")
    assert "version '1.0' is not a folder-safe semantic version" in text and "id 'tiny'" not in text, text
    assert "fix version in models.json" in text


def test_a_registry_id_that_is_not_folder_safe_is_named_alone_with_the_id_to_use(tmp_path):
    text = _registry_error(tmp_path, model_id="Tiny-CT", version="1.0.0")
    assert "model id 'Tiny-CT' is not folder-safe" in text and "'tiny-ct'" in text and "version" not in text, text


def test_the_card_and_the_cache_give_one_sentence_for_one_version():
    version = "1.0.0\u2028"
    with pytest.raises(ModelCardError) as card:
        ModelCard(model_id="m", version=version, classes=(SegmentClass("liver", 1),))
    with pytest.raises(ModelCardError) as cache:
        cache_folder("m", version)
    card_text = str(card.value).split(": ", 1)[1]
    cache_text = str(cache.value).split(": ", 1)[1]
    assert card_text == cache_text and "fix version in the model card" in card_text, (card_text, cache_text)
