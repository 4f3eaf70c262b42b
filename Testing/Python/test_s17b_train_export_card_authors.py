"""``sdseg-export --card``: fields a card file may not get wrong.

``authors``/``references`` given as one string are refused, as the engine's model card refuses them,
instead of becoming one author per letter (``tuple("Jane Doe")``). An ``image_resize`` other than
how the run's images were resized (``DatasetInfo.image_resize``, set by the data kind) is refused:
before, a card file (for instance copied from an imported official checkpoint, ``pillow-bicubic``)
overrode it silently, so the exported model saw other inputs than it was trained on. Real phantom
training run (tiny networks)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.cli import EXIT_USAGE, export_main  # noqa: E402
from test_s17_train_best_left_aside import run  # noqa: E402,F401 - a pytest fixture: a phantom run and an empty config


@pytest.mark.parametrize("key, suffix, text", [
    ("authors", ".json", json.dumps({"authors": "Jane Doe"})),
    ("references", ".yaml", "references: https://example.org/sdseg\n"),
    ("authors", ".yaml", "authors:\n"),
])
def test_a_single_string_is_refused_naming_the_file_key_and_remedy(run, capsys, tmp_path, key, suffix, text):
    root, base, empty = run
    card = tmp_path / f"card{suffix}"
    card.write_text(text)
    out = tmp_path / "model"
    assert export_main([str(empty), *base, "--card", str(card), "--out", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert str(card) in err and key in err and "list" in err, err
    assert not out.exists()


def test_a_list_of_authors_is_kept_as_given(run, capsys, tmp_path):
    root, base, empty = run
    card = tmp_path / "card.yaml"
    card.write_text("authors: [Jane Doe, John Roe]\nreferences: [https://example.org/sdseg]\n")
    out = tmp_path / "model"
    assert export_main([str(empty), *base, "--card", str(card), "--out", str(out)]) == 0, capsys.readouterr().err
    written = json.loads((out / "model_card.json").read_text())
    assert written["authors"] == ["Jane Doe", "John Roe"] and written["references"] == ["https://example.org/sdseg"]


def test_a_card_file_resize_other_than_the_run_s_is_refused(run, capsys, tmp_path):
    root, base, empty = run
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"image_resize": "pillow-bicubic"}))
    out = tmp_path / "model"
    assert export_main([str(empty), *base, "--card", str(card), "--out", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert str(card) in err and "pillow-bicubic" in err and "'bilinear'" in err, err
    assert not out.exists()


def test_a_card_file_naming_the_run_s_own_resize_exports(run, tmp_path):
    root, base, empty = run
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"image_resize": "bilinear"}))
    out = tmp_path / "model"
    assert export_main([str(empty), *base, "--card", str(card), "--out", str(out)]) == 0
    written = json.loads((out / "model_card.json").read_text())
    assert written.get("image_resize", "bilinear") == "bilinear"
