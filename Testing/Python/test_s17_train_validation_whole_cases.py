"""``train.val_max_items`` takes whole validation volumes: a volume is scored as one case, never from part of its slices."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.data import SliceSet, load_data  # noqa: E402
from sdseg_training.evaluate import score_predictions, validate  # noqa: E402
from sdseg_training.trainer import Stage2Trainer  # noqa: E402

VOLUMES = ["model.preset=tiny", "model.autoencoder=random", "model.condition_encoder_init=null", "data.kind=phantom3d",
           "data.size=32", "data.phantom_cases=6", "data.val_fraction=0.34", "data.test_fraction=0.0",
           "train.batch_size=4", "train.max_steps=1"]


def _phantom_volumes(tmp_path: Path) -> SliceSet:
    cfg = load_config(None, VOLUMES + [f"train.output_dir={tmp_path}"])
    _, split, sets = load_data(cfg.data, tmp_path, parts=("val",))
    assert len(split["val"]) >= 2, split  # the cap below falls inside the first of several volumes
    return sets["val"]


def test_scoring_refuses_predictions_that_end_inside_a_volume(tmp_path):
    val = _phantom_volumes(tmp_path)
    first = val.cases()[val.case_ids[0]]
    cut = val.labels[: len(first) // 2]  # the true labels of half the first volume: a "perfect" partial prediction
    with pytest.raises(ValueError, match=f"part-way through volume {val.case_ids[0]}"):
        score_predictions(val, cut, ["foreground"], multiclass=False)
    whole = score_predictions(val, val.labels[: len(first)], ["foreground"], multiclass=False)
    assert list(whole["per_case"]) == [val.case_ids[0]]


def test_validation_cap_scores_whole_volumes(tmp_path):
    trainer = Stage2Trainer(load_config(None, VOLUMES + [f"train.output_dir={tmp_path / 'run'}"]), resume="none")
    trainer.run()
    val = trainer.val_set
    depth = len(val.cases()[val.case_ids[0]])
    assert len(val) > depth > 3
    trainer.cfg.train.val_max_items = 3  # inside the first volume
    capped = validate(trainer)
    trainer.cfg.train.val_max_items = depth  # exactly the first volume
    first_volume = validate(trainer)
    assert capped == first_volume
    trainer.cfg.train.val_max_items = 0
    assert np.isfinite(validate(trainer)["dice"])
