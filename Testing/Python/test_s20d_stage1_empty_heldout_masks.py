"""Stage 1's reconstruction record stays standard JSON when every held-out mask is empty.

``dice_nonempty_mean`` (the mean over masks with foreground) has no value when no held-out mask holds any: it was
``NaN``, which ``autoencoder.json`` then stored as the non-standard token ``NaN`` and ``sdseg-export`` copied into
the model card (``training.autoencoder.heldout_reconstruction``), where the engine's ``info`` reply, encoded as
strict JSON, fails on it. A real tiny autoencoder scores validation slices whose masks are all background here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from SDSegLogic.config import preset  # noqa: E402
from SDSegLogic.models.sdseg_model import SDSegModel  # noqa: E402
from SDSegLogic.server.protocol import encode_frame  # noqa: E402
from sdseg_training.autoencoder import reconstruction_dice  # noqa: E402
from sdseg_training.data.slices import SliceSet  # noqa: E402


def _slices(labels: np.ndarray) -> SliceSet:
    n, s = labels.shape[0], labels.shape[-1]
    return SliceSet(np.zeros((n, 1, s, s), np.float16), labels, [f"c{i}" for i in range(n)], 1, {})


def _autoencoder():
    torch.manual_seed(0)
    return SDSegModel(preset("tiny")).autoencoder.eval()


def test_all_empty_heldout_masks_give_a_strict_json_record():
    metrics = reconstruction_dice(_autoencoder(), _slices(np.zeros((3, 32, 32), np.uint8)), multiclass=False)
    assert metrics["num_masks"] == 3
    assert metrics["dice_nonempty_mean"] is None  # no mask with foreground: no mean, said as null
    text = json.dumps(metrics, allow_nan=False)  # autoencoder.json and the model card: standard JSON
    assert json.loads(text)["dice_mean"] == metrics["dice_mean"]
    card = {"training": {"autoencoder": {"heldout_reconstruction": metrics}}}
    assert encode_frame({"type": "info", "model_card": card})  # the engine's strict-JSON reply carries it


def test_masks_with_foreground_keep_their_mean():
    labels = np.zeros((2, 32, 32), np.uint8)
    labels[0, 8:20, 8:20] = 1
    autoencoder = _autoencoder()
    metrics = reconstruction_dice(autoencoder, _slices(labels), multiclass=False)
    alone = reconstruction_dice(autoencoder, _slices(labels[:1]), multiclass=False)  # the one mask with foreground
    assert isinstance(metrics["dice_nonempty_mean"], float)
    assert metrics["dice_nonempty_mean"] == pytest.approx(alone["dice_mean"])  # the empty mask is left out of it
    json.dumps(metrics, allow_nan=False)
