"""``heldout eval`` refuses a config whose class count differs from the model card's.

The network's class i is scored against the config's i-th class: with a third config class the
model cannot produce, or a binary config that merges the card's classes into one, every per-class
Dice would describe other structures than the card's, so the evaluation stops before scoring.
"""

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

CLASSES = ["data.classes=[{name: upper, labels: [1]}, {name: lower, labels: [2]}]", "data.multiclass=true", "model.num_classes=3"]
THREE = ["data.classes=[{name: upper, labels: [1]}, {name: lower, labels: [2]}, {name: other, labels: [3]}]",
         "data.multiclass=true", "model.num_classes=4"]
MERGED = ["data.classes=[{name: upper, labels: [1, 2]}]", "data.multiclass=false", "model.num_classes=null"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("SimpleITK")
    root = tmp_path_factory.mktemp("count")
    # the label-3 dot: undeclared in CLASSES (background there), the third class of THREE
    data = two_block_volumes(root / 'data', dot=True)
    base = ["model.preset=tiny", "model.condition_encoder_init=null", "data.kind=volumes", f"data.root={data}",
            "data.size=32", "data.window=[-100, 100]", "data.val_fraction=0.25",
            "data.test_fraction=0.25", "train.batch_size=4", "train.max_steps=2", "train.val_every=2", "train.ckpt_every=2",
            "optim.warmup_steps=1", f"train.output_dir={root / 's2'}", f"autoencoder.output_dir={root / 'ae'}"]
    with pytest.warns(UserWarning):  # label 3 is undeclared in the two-class config
        train_autoencoder(load_config(None, base + CLASSES + ["model.autoencoder=null", "autoencoder.max_steps=2",
                                                              "autoencoder.val_every=2", "autoencoder.batch_size=4"]),
                          log=lambda *_: None)
        args = base + [f"model.autoencoder={root / 'ae'}"]
        Stage2Trainer(load_config(None, args + CLASSES), resume="none").run()
    config = root / "run.yaml"
    config.write_text("")
    assert export_main([str(config), *args, *CLASSES, "--out", str(root / "model")]) == 0
    return root, config, args


def _eval(root: Path, config: Path, args: list, classes: list, name: str) -> int:
    return heldout_main(["eval", str(config), *args, *classes, "--model", str(root / "model"),
                         "--json", str(root / f"{name}.json"), "--device", "cpu"])


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("classes, count", [(THREE, 3), (MERGED, 1)], ids=["three-classes", "binary-merged"])
def test_heldout_eval_refuses_another_class_count_than_the_card(exported, capsys, classes, count):
    root, config, args = exported
    name = f"count{count}"
    assert _eval(root, config, args, classes, name) != 0
    err = capsys.readouterr().err
    assert "2 classes" in err and f"{count} class" in err, err
    assert str(root / "model" / "model_card.json") in err and str(config) in err, err
    assert "data.classes" in err and "['upper', 'lower']" in err, err  # the remedy names the card's classes
    assert not (root / f"{name}.json").exists()  # no per-class scores against classes the model does not have


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_heldout_eval_with_the_cards_classes_still_scores(exported):
    root, config, args = exported
    assert _eval(root, config, args, CLASSES, "same") == 0
    held = json.loads((root / "same.json").read_text())
    assert list(held["full"]["per_class"]) == ["upper", "lower"]
