"""``sdseg models verify`` reports a card whose model_id cannot name a cache folder, as the zip import does.

A folder whose card said ``"model_id": "My CT Model"`` (or held a line break) passed ``sdseg models
verify`` ("ok") and ``verify_model_folder`` returned no problem, yet zipping that very folder and
importing it was refused ("model id ... is not folder-safe"): a model author verified, published and
only then learned that nobody could install the model. Both now use one rule
(``model_names.model_id_problem``), and verify names the card, the value and the remedy.
"""

from __future__ import annotations

import json
import shutil

import pytest
from cli_segment_fixtures import isolated_home, run, tiny_folder  # noqa: F401 (fixtures)
from cli_test_helpers import zip_folder

from SDSegLogic.cli import EXIT_OK
from SDSegLogic.errors import ModelCardError
from SDSegLogic.model_folder import verify_model_folder
from SDSegLogic.model_zip import import_zip


def _with_id(tiny_folder, target, model_id):
    folder = shutil.copytree(tiny_folder, target)
    card = json.loads((folder / "model_card.json").read_text())
    card["model_id"] = model_id
    (folder / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    return folder


@pytest.mark.parametrize("model_id", ["My CT Model", "tiny\nforged", "con"])
def test_verify_refuses_what_the_import_refuses(tiny_folder, tmp_path, model_id):
    folder = _with_id(tiny_folder, tmp_path / "model", model_id)
    with pytest.raises(ModelCardError, match="folder-safe"):
        import_zip(zip_folder(folder, tmp_path / "model.zip"), home=tmp_path / "cache")
    problems = verify_model_folder(folder)
    assert len(problems) == 1, problems
    assert str(folder / "model_card.json") in problems[0] and repr(model_id) in problems[0]
    assert "fix model_id in the model card" in problems[0]


def test_the_cli_verify_fails_and_suggests_the_lower_case_id(tiny_folder, tmp_path, capsys):
    folder = _with_id(tiny_folder, tmp_path / "model", "Tiny-Test")
    code, out, err = run(["models", "verify", folder], capsys)
    assert code != EXIT_OK and "'Tiny-Test'" in out + err and "e.g. 'tiny-test'" in out + err


def test_a_folder_safe_id_verifies(tiny_folder, tmp_path, capsys):
    folder = _with_id(tiny_folder, tmp_path / "model", "tiny-test.v2_b")
    assert verify_model_folder(folder) == []
    code, _, _ = run(["models", "verify", folder], capsys)
    assert code == EXIT_OK
