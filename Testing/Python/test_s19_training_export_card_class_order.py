"""``sdseg-export --card`` refuses a card file that names the run's classes at other places.

The card's i-th class names the network's class i. A card file listing ``[lower, upper]`` for a run
trained on ``data.classes`` ``[upper, lower]`` exported a model whose segment "lower" is the upper
structure (and the reverse): every Slicer user of the folder would see swapped segment names.
Renaming a class (another name, at its own place) is still allowed.
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
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

CLASSES = ["data.classes=[{name: upper, labels: [1]}, {name: lower, labels: [2]}]", "data.multiclass=true", "model.num_classes=3"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pytest.importorskip("SimpleITK")
    root = tmp_path_factory.mktemp("cardorder")
    data = two_block_volumes(root / 'data')
    base = ["model.preset=tiny", "model.condition_encoder_init=null", "data.kind=volumes", f"data.root={data}",
            "data.size=32", "data.window=[-100, 100]", "data.val_fraction=0.25", "data.test_fraction=0.25",
            "train.batch_size=4", "train.max_steps=2", "train.val_every=2", "train.ckpt_every=2", "optim.warmup_steps=1",
            f"train.output_dir={root / 's2'}", f"autoencoder.output_dir={root / 'ae'}", *CLASSES]
    train_autoencoder(load_config(None, base + ["model.autoencoder=null", "autoencoder.max_steps=2", "autoencoder.val_every=2",
                                                "autoencoder.batch_size=4"]), log=lambda *_: None)
    args = base + [f"model.autoencoder={root / 'ae'}"]
    Stage2Trainer(load_config(None, args), resume="none").run()
    config = root / "run.yaml"
    config.write_text("")
    return root, config, args


def _export(run, names, out: str) -> int:
    root, config, args = run
    card = root / f"{out}.card.json"
    card.write_text(json.dumps({"classes": [{"name": n} for n in names]}))
    return export_main([str(config), *args, "--card", str(card), "--out", str(root / out)])


@pytest.mark.parametrize("names", [["lower", "upper"], ["Lower", "organ"]], ids=["swapped", "one-moved"])
def test_export_refuses_a_card_naming_the_classes_at_other_places(run, capsys, names):
    root, out = run[0], f"moved-{names[1]}"
    assert _export(run, names, out) != 0
    err = capsys.readouterr().err
    assert "['upper', 'lower']" in err and str(names) in err and str(root / f"{out}.card.json") in err, err
    assert "data.classes" in err, err  # the remedy: list them in the run's order
    assert not (root / out).exists()


def test_export_keeps_renamed_classes_at_their_places(run):
    root = run[0]
    # (a name with surrounding whitespace is refused by the card itself: test_s20b_export_card_class_names.py)
    assert _export(run, ["Upper block", "LOWER"], "renamed") == 0
    card = json.loads((root / "renamed" / "model_card.json").read_text())
    assert [c["name"] for c in card["classes"]] == ["Upper block", "LOWER"]
    assert [c["label_value"] for c in card["classes"]] == [1, 2]
