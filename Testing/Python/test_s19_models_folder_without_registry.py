"""A model given as a folder is resolved even when the model registry file cannot be read.

The engine process (and ``sdseg segment --model DIR``) resolved every ``--model`` through the registry first, so a
``$SDSEG_REGISTRY`` that is not valid JSON made a plain model folder unusable ("model registry is not valid JSON"),
although a folder needs no registry; Slicer's panel, which goes on with an empty registry, then saw its engine
fail to start. The folder is now used without its registry entry, with a warning naming the registry.
"""

from __future__ import annotations

import pytest

from cli_segment_fixtures import tiny_folder  # noqa: F401 (fixture)
from SDSegLogic.errors import ModelCardError
from SDSegLogic.registry import resolve_model


def test_a_folder_resolves_with_an_unreadable_registry(tmp_path, monkeypatch, tiny_folder):  # noqa: F811
    broken = tmp_path / "models.json"
    broken.write_text("{ not json")
    monkeypatch.setenv("SDSEG_REGISTRY", str(broken))
    with pytest.warns(UserWarning, match="not valid JSON.*used without its registry entry"):
        resolved = resolve_model(str(tiny_folder))
    assert resolved.folder == tiny_folder and resolved.source == "folder" and resolved.entry is None


def test_an_id_still_needs_the_registry(tmp_path, monkeypatch):
    broken = tmp_path / "models.json"
    broken.write_text("{ not json")
    monkeypatch.setenv("SDSEG_REGISTRY", str(broken))
    with pytest.raises(ModelCardError, match="not valid JSON"):
        resolve_model("some-model-id")
