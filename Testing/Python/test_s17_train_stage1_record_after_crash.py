"""Stage 1 stopped between writing its weights and their record (``autoencoder.json``): an export does not put the
step count and reconstruction Dice of the earlier weights on the card as the history of these ones."""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.autoencoder import train_autoencoder  # noqa: E402
from sdseg_training.cli import export_main  # noqa: E402
from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402
from test_training_run_checks import PHANTOM  # noqa: E402

STAGE1 = ["autoencoder.val_every=1", "autoencoder.keep_best=false", "autoencoder.batch_size=4"]


def _export(root: Path, stale: bool) -> dict:
    """Stage 1 for 2 steps (saving at each); with ``stale``, its record as a crash after step 2's weights leaves it."""
    base = PHANTOM + [f"autoencoder.output_dir={root / 'ae'}", f"train.output_dir={root / 's2'}"]
    train_autoencoder(load_config(None, base + STAGE1 + ["autoencoder.max_steps=2"]), log=lambda *_: None)
    if stale:  # step 1's record, written by the same run one step earlier (a 1-step run of the same settings)
        train_autoencoder(load_config(None, base + STAGE1 + ["autoencoder.max_steps=1", f"autoencoder.output_dir={root / 'ae1'}"]),
                          log=lambda *_: None)
        shutil.copy2(root / "ae1" / "autoencoder.json", root / "ae" / "autoencoder.json")
    Stage2Trainer(load_config(None, base), resume="none").run()
    empty, card = root / "empty.yaml", root / "card.json"
    empty.write_text("")
    card.write_text(json.dumps({"model_id": "phantom", "classes": [{"name": "blob"}, {"name": "vessel"}]}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert export_main([str(empty), *base, "--card", str(card), "--out", str(root / "model")]) == 0
    record = json.loads((root / "model" / "model_card.json").read_text())["training"]["autoencoder"]
    record["_warned"] = [str(w.message) for w in caught if "describes other weights" in str(w.message)]
    return record


def test_export_leaves_out_the_record_of_earlier_stage1_weights(tmp_path):
    record = _export(tmp_path, stale=True)
    assert record.get("steps") is None and record.get("heldout_reconstruction") is None
    assert "autoencoder.json describes other weights" in record["record"] and record["_warned"] == [record["record"]]


def test_export_keeps_the_record_of_the_same_stage1_weights(tmp_path):
    record = _export(tmp_path, stale=False)
    assert record["steps"] == 2 and record["heldout_reconstruction"]["num_masks"] > 0 and record["_warned"] == []
