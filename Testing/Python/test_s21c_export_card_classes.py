"""``sdseg-export --card`` reads the card file's classes as a model card reads them, and names the card file.

``build_card`` read each class with ``tuple(float(x) for x in color)``: a colour given as the text ``"100"``
became red ``(1, 0, 0)`` in the exported model, a misspelt ``colour`` was dropped (grey), and a class
given as a bare name (``classes: [blob]``) crashed with ``AttributeError``. Its errors were the model
card's, post-edited by replacing the words "model card"; the card now takes the source to name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.cli import export_main  # noqa: E402

from test_s21c_export_killed_staging import run  # noqa: E402,F401 (module fixture)


def _export(run, tmp_path, classes, capsys, **extra):  # noqa: F811
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"model_id": "tiny", "classes": classes, **extra}))
    out = tmp_path / "model"
    try:
        code = export_main([*run, "--out", str(out), "--card", str(card)])
    except SystemExit as exc:  # pragma: no cover - argparse
        code = exc.code
    return code, capsys.readouterr().err, card, out


@pytest.mark.parametrize("classes, words", [
    ([{"name": "blob", "color": "100"}], "color '100'"),
    ([{"name": "blob", "colour": [1, 0, 0]}], "unknown keys ['colour']"),
    (["blob"], "classes[0] 'blob' must be an object"),
])
def test_a_card_file_class_a_model_card_would_refuse_is_refused_naming_the_card_file(run, tmp_path, capsys, classes,  # noqa: F811
                                                                                   words):
    code, err, card, out = _export(run, tmp_path, classes, capsys)
    assert code != 0 and not out.exists(), f"exported {classes!r} anyway"
    assert str(card) in err and words in err, err


def test_a_card_field_error_names_the_card_file_once(run, tmp_path, capsys):  # noqa: F811
    code, err, card, out = _export(run, tmp_path, [{"name": "blob"}], capsys, threshold=2)
    assert code != 0 and not out.exists()
    assert f"{card}: threshold 2 must be a number in (0, 1)" in err and "model card" not in err, err


def test_a_card_file_class_without_label_value_gets_its_place(run, tmp_path, capsys):  # noqa: F811
    code, err, _card, out = _export(run, tmp_path, [{"name": "blob", "color": [1, 0, 0]}], capsys)
    assert code == 0, err
    data = json.loads((out / "model_card.json").read_text())
    assert [(c["name"], c["label_value"], c["color"]) for c in data["classes"]] == [("blob", 1, [1.0, 0.0, 0.0])]
