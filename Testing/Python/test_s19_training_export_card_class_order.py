"""``sdseg-export --card`` refuses card files whose classes a model folder cannot carry, naming the card file.

The card's i-th class names the network's class i. A card file listing ``[lower, upper]`` for a run
trained on ``data.classes`` ``[upper, lower]`` exported a model whose segment "lower" is the upper
structure (and the reverse): every Slicer user of the folder would see swapped segment names.
Renaming a class (another name, at its own place) is still allowed.

A card class named ``"upper "`` exported a model whose ``.seg.nrrd`` segment was ``"upper "`` and whose
DICOM SEG segment was ``"upper"`` (LO padding is stripped): one model, two names; a class with a
terminology type but no category got the wrong category. The model card now refuses both; the export
names the card file, and writes no folder.
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
    """Export ``run`` with a card file naming its classes ``names`` (texts, or whole class entries)."""
    root, config, args = run
    card = root / f"{out}.card.json"
    card.write_text(json.dumps({"classes": [n if isinstance(n, dict) else {"name": n} for n in names]}))
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
    # (a name with surrounding whitespace is refused by the card itself: below)
    assert _export(run, ["Upper block", "LOWER"], "renamed") == 0
    card = json.loads((root / "renamed" / "model_card.json").read_text())
    assert [c["name"] for c in card["classes"]] == ["Upper block", "LOWER"]
    assert [c["label_value"] for c in card["classes"]] == [1, 2]


def test_a_card_class_name_with_a_trailing_space_is_refused_naming_the_card_file(run, capsys):
    root = run[0]
    assert _export(run, [{"name": "upper "}, {"name": "lower"}], "spaced") != 0
    err = capsys.readouterr().err
    assert str(root / "spaced.card.json") in err and "'upper '" in err and "'upper'" in err, err
    assert not (root / "spaced").exists()


def test_a_type_without_category_is_refused_naming_the_card_file(run, capsys):
    root = run[0]
    classes = [{"name": "upper", "terminology": {"type": ["SCT", "10200004", "Liver"]}}, {"name": "lower"}]
    assert _export(run, classes, "uncoded") != 0
    err = capsys.readouterr().err
    assert str(root / "uncoded.card.json") in err and "123037004" in err, err
    assert not (root / "uncoded").exists()


def test_clean_names_with_paired_codes_export(run, capsys):
    from SDSegLogic.model_card import ModelCard

    classes = [{"name": "upper", "terminology": {"category": ["SCT", "123037004", "Anatomical Structure"],
                                                 "type": ["SCT", "10200004", "Liver"]}}, {"name": "lower"}]
    assert _export(run, classes, "clean") == 0, capsys.readouterr().err
    card = ModelCard.from_json(run[0] / "clean" / "model_card.json")
    assert [c.name for c in card.classes] == ["upper", "lower"]
