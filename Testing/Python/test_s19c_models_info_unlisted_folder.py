"""``sdseg models info DIR`` for a folder the registry does not list, read by a person.

The report began with an indented ``folder:`` line: no line said which model it was, and the card's
task, modality and licence (shown for registry models) were left out. The intensity mapping was a
Python dict (``{'kind': 'rgb', 'low': -125.0, 'high': 275.0}``: window bounds an RGB model never uses).
"""

from __future__ import annotations

import json
import shutil

from cli_segment_fixtures import isolated_home, run, tiny_folder  # noqa: F401 (fixtures)

from SDSegLogic.cli import EXIT_OK


def test_an_unlisted_folder_is_named_by_its_card(tiny_folder, capsys):
    code, out, _ = run(["models", "info", tiny_folder], capsys)
    card = json.loads((tiny_folder / "model_card.json").read_text())
    first = out.splitlines()[0]
    assert code == EXIT_OK
    assert first.startswith(f"{card['model_id']} {card['version']}: {card['task']}") and "not in the registry" in first
    assert f"modality: {card['modality']}; licence: {card['license']}" in out
    assert "{'kind'" not in out
    low, high = card["intensity"]["low"], card["intensity"]["high"]
    assert f"intensity window [{low:g}, {high:g}]" in out


def test_an_rgb_model_shows_no_window_bounds(tiny_folder, tmp_path, capsys):
    rgb = shutil.copytree(tiny_folder, tmp_path / "rgb")
    card = json.loads((rgb / "model_card.json").read_text())
    card["intensity"] = {"kind": "rgb"}
    (rgb / "model_card.json").write_text(json.dumps(card))
    code, out, _ = run(["models", "info", rgb], capsys)
    line = next(line for line in out.splitlines() if "model card:" in line)
    assert code == EXIT_OK and "intensity rgb" in line and "low" not in line and "-125" not in line
    json_code, document, _ = run(["models", "info", rgb, "--json"], capsys)  # the JSON document is unchanged
    assert json_code == EXIT_OK and json.loads(document)["model_card"]["intensity"]["kind"] == "rgb"
