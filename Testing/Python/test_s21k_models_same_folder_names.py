"""The panel's model list (SDSegLib.model_library.list_models) with two recent model folders of the same name.

A person who used two copies of a model (another version, a retrained one) kept in folders of
the same name, e.g. ``/data/v1/liver-model`` and ``/data/v2/liver-model``, must be able to tell
the two items of the combo box apart by their text; the real tiny model is copied twice.
"""

from __future__ import annotations

import shutil

from slicer_logic_helpers import model_folder  # noqa: F401 - pytest fixture; puts SDSegLib on sys.path


def test_two_recent_model_folders_of_one_name_get_distinct_texts(tmp_path, model_folder):
    from SDSegLib.model_library import list_models
    from SDSegLogic.registry import Registry

    first = shutil.copytree(model_folder, tmp_path / "v1" / "liver-model")
    second = shutil.copytree(model_folder, tmp_path / "v2" / "liver-model")
    alone = shutil.copytree(model_folder, tmp_path / "v3" / "other-model")
    choices = list_models(Registry(), [str(first), str(second), str(alone)], tmp_path / "empty-home")
    assert [c.spec for c in choices] == [str(first), str(second), str(alone)]
    texts = [c.text for c in choices]
    assert len(set(texts)) == len(texts), texts  # each item can be told apart in the combo box
    assert str(first.parent) in texts[0] and str(second.parent) in texts[1]
    assert texts[2] == "other-model (folder)"  # a folder name used once keeps its short text
    assert all(c.source == "folder" and c.found for c in choices)
