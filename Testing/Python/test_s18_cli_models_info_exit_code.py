"""``sdseg models info`` exits with the same code with and without ``--json``.

With a model folder whose ``model_card.json`` is broken, ``sdseg models info DIR`` exits 4 (model
error, as documented) but ``sdseg models info DIR --json`` used to exit 0, so a script reading the
JSON document and checking the exit code took a broken model for a healthy one.
"""

from __future__ import annotations

import json
import shutil

from cli_segment_fixtures import isolated_home, run, tiny_folder  # noqa: F401 (fixtures)

from SDSegLogic.cli import EXIT_MODEL, EXIT_OK


def test_a_broken_model_card_is_a_model_error_in_both_modes(tiny_folder, tmp_path, capsys):
    broken = shutil.copytree(tiny_folder, tmp_path / "broken")
    (broken / "model_card.json").write_text('{"model_id": 5', encoding="utf-8")
    text_code, _, _ = run(["models", "info", broken], capsys)
    json_code, out, _ = run(["models", "info", broken, "--json"], capsys)
    assert text_code == EXIT_MODEL
    assert json_code == EXIT_MODEL
    assert "not valid JSON" in json.loads(out)["model_card"]["error"]  # the document is still printed


def test_a_healthy_model_is_ok_in_both_modes(tiny_folder, capsys):
    assert run(["models", "info", tiny_folder], capsys)[0] == EXIT_OK
    code, out, _ = run(["models", "info", tiny_folder, "--json"], capsys)
    assert code == EXIT_OK and json.loads(out)["model_card"]["model_id"] == "tiny-test"
