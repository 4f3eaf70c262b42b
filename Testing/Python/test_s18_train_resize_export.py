"""``sdseg-export`` writes the run's ``data.image_resize`` into the card, and refuses another one.

A card's ``image_resize`` tells the engine how to resize its input; it must be how the run's
training images were resized. Before, export took it from the data kind only, so a config naming
another mode exported a card that disagreed with the run's record. Real phantom runs (tiny networks).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.cli import EXIT_USAGE, export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402
from sdseg_training.export import export_run  # noqa: E402
from test_training_run_checks import PHANTOM, train_phantom  # noqa: E402

CARD = {"model_id": "phantom", "classes": [{"name": "blob"}, {"name": "vessel"}]}


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """A phantom run whose config names no image_resize (phantom2d: bilinear)."""
    return train_phantom(tmp_path_factory.mktemp("plain"), PHANTOM)


def test_export_refuses_a_resize_the_run_did_not_train_with(plain_run, tmp_path):
    root, base = plain_run
    cfg = load_config(None, base)
    cfg.data.image_resize = "pillow-bicubic"  # DataSection.image_resize (config.py); an attribute works the same
    card = tmp_path / "card.json"
    card.write_text(json.dumps(CARD))
    out = tmp_path / "model"
    with pytest.raises(TrainingConfigError) as caught:
        export_run(cfg, str(out), card_path=str(card))
    message = str(caught.value)
    assert "data.image_resize: bilinear in the run, pillow-bicubic now" in message and "state.json" in message, message
    assert not out.exists()


def test_a_plain_export_keeps_the_default_left_out_of_the_card(plain_run, tmp_path):
    root, base = plain_run
    card = tmp_path / "card.json"
    card.write_text(json.dumps(CARD))
    out = tmp_path / "model"
    export_run(load_config(None, base), str(out), card_path=str(card))
    assert "image_resize" not in json.loads((out / "model_card.json").read_text())  # bilinear, the implicit default


def test_a_run_trained_with_a_mode_records_it_and_exports_it_to_the_card(tmp_path_factory, capsys):
    root, base = train_phantom(tmp_path_factory.mktemp("pillow"), PHANTOM + ["data.image_resize=pillow-bicubic"])
    state = json.loads((root / "s2" / "checkpoints" / "best" / "state.json").read_text())
    assert state["config"]["data"]["image_resize"] == "pillow-bicubic"  # the run records it
    card = root / "card.json"
    card.write_text(json.dumps(CARD))
    empty = root / "empty.yaml"
    empty.write_text("")
    out = root / "model"
    assert export_main([str(empty), *base, "--card", str(card), "--out", str(out)]) == 0, capsys.readouterr().err
    assert json.loads((out / "model_card.json").read_text())["image_resize"] == "pillow-bicubic"
    other = root / "other"
    assert export_main([str(empty), *base, "data.image_resize=bilinear", "--card", str(card), "--out", str(other)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "data.image_resize: pillow-bicubic in the run, bilinear now" in err and not other.exists(), err
