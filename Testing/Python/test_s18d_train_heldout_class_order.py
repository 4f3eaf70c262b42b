"""``heldout eval`` refuses a config that lists the model card's classes in another order: the network's class i
is scored against the config's i-th class, so each per-class Dice would describe another class."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from training_volume_helpers import two_block_volumes

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.cli import export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.heldout import main as heldout_main  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

CLASSES = "data.classes=[{name: upper, labels: [1]}, {name: lower, labels: [2]}]"
REORDERED = "data.classes=[{name: lower, labels: [2]}, {name: upper, labels: [1]}]"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("SimpleITK")
    root = tmp_path_factory.mktemp("order")
    data = two_block_volumes(root / 'data')
    base = ["model.preset=tiny", "model.condition_encoder_init=null", "data.kind=volumes", f"data.root={data}",
            "data.size=32", "data.window=[-100, 100]", "data.multiclass=true", "model.num_classes=3", "data.val_fraction=0.25",
            "data.test_fraction=0.25", "train.batch_size=4", "train.max_steps=2", "train.val_every=2", "train.ckpt_every=2",
            "optim.warmup_steps=1", f"train.output_dir={root / 's2'}", f"autoencoder.output_dir={root / 'ae'}"]
    train_autoencoder(load_config(None, base + [CLASSES, "model.autoencoder=null", "autoencoder.max_steps=2",
                                                "autoencoder.val_every=2", "autoencoder.batch_size=4"]), log=lambda *_: None)
    args = base + [f"model.autoencoder={root / 'ae'}"]
    Stage2Trainer(load_config(None, args + [CLASSES]), resume="none").run()
    empty = root / "empty.yaml"
    empty.write_text("")
    assert export_main([str(empty), *args, CLASSES, "--out", str(root / "model")]) == 0
    return root, empty, args


def _eval(root: Path, empty: Path, args: list, classes: str, name: str) -> int:
    return heldout_main(["eval", str(empty), *args, classes, "--model", str(root / "model"),
                         "--json", str(root / f"{name}.json"), "--device", "cpu"])


def test_heldout_eval_refuses_the_cards_classes_in_another_order(exported, capsys):
    root, empty, args = exported
    assert _eval(root, empty, args, REORDERED, "reordered") != 0
    err = capsys.readouterr().err
    assert "another order" in err and "['lower', 'upper']" in err and "['upper', 'lower']" in err
    assert str(root / "model" / "model_card.json") in err
    assert not (root / "reordered.json").exists()  # no per-class scores under swapped names


def test_heldout_eval_in_the_cards_order_scores_both_classes(exported):
    root, empty, args = exported
    assert _eval(root, empty, args, CLASSES, "same") == 0
    held = json.loads((root / "same.json").read_text())
    assert list(held["full"]["per_class"]) == ["upper", "lower"] and "warnings" not in held
