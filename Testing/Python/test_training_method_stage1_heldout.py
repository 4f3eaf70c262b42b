"""Stage 1 reports its reconstruction Dice as held out only when it was scored on held-out masks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402


def _stage1(root: Path, val_fraction: float):
    cfg = load_config(None, [
        "model.preset=tiny", "data.kind=phantom2d", "data.size=32", "data.phantom_cases=6",
        f"data.val_fraction={val_fraction}", f"autoencoder.output_dir={root / 'ae'}", "autoencoder.max_steps=1",
        "autoencoder.val_every=1", "autoencoder.batch_size=2", f"train.output_dir={root / 'run'}",
    ])
    return train_autoencoder(cfg, log=lambda *_: None)


def test_without_a_validation_split_the_training_dice_is_not_called_held_out(tmp_path):
    with pytest.warns(UserWarning, match="no validation cases"):
        metrics = _stage1(tmp_path, 0.0)
    meta = json.loads((tmp_path / "ae" / "autoencoder.json").read_text())
    split = json.loads((tmp_path / "ae" / "split.json").read_text())
    assert split["val"] == [] and meta["split_sizes"]["val"] == 0  # the scored masks are the training masks
    assert "heldout_reconstruction" not in meta and meta["heldout_split"] is None
    assert meta["train_reconstruction"]["num_masks"] == metrics["num_masks"] == len(split["train"])
    assert metrics["scored_on"] == "train"


def test_with_a_validation_split_the_dice_is_scored_on_exactly_its_masks(tmp_path):
    metrics = _stage1(tmp_path, 0.4)
    meta = json.loads((tmp_path / "ae" / "autoencoder.json").read_text())
    split = json.loads((tmp_path / "ae" / "split.json").read_text())
    assert split["val"] and not set(split["val"]) & set(split["train"])
    assert meta["heldout_split"] == "val" and metrics["scored_on"] == "val"
    assert meta["heldout_reconstruction"]["num_masks"] == len(split["val"])  # one 2D mask per validation image
