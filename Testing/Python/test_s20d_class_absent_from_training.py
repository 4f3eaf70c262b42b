"""A class that no training slice holds is named, even when validation or test files hold it.

The warning about unused classes looked at the label values of every loaded file (train and validation together),
so a class found only in the validation cases passed without a word although the network never sees one
training pixel of it (its Dice then only measures what an untrained class embedding does). Tiny real 2-D label
masks and a split file that leaves class ``b`` to validation are used here.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402
from sdseg_training.data.splits import SPLIT_FORMAT  # noqa: E402

CLASSES = [{"name": "a", "labels": [1]}, {"name": "b", "labels": [2]}]


def _dataset(root: Path, b_in: str) -> Path:
    from PIL import Image

    for cid in ("c1", "c2", "c3"):
        mask = np.zeros((32, 32), np.uint8)
        mask[4:12, 4:12] = 1
        if cid == b_in:
            mask[18:28, 18:28] = 2
        for sub, array in (("images", np.full((32, 32, 3), 90, np.uint8)), ("masks", mask)):
            (root / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / sub / f"{cid}.png")
    split = root / "split.json"
    split.write_text(json.dumps({"format": SPLIT_FORMAT, "version": 1, "kind": "folder2d",
                                 "train": ["c1", "c2"], "val": ["c3"], "test": []}))
    return split


def _messages(root: Path, b_in: str, tmp_path: Path):
    split = _dataset(root, b_in)
    cfg = DataSection(kind="folder2d", root=str(root), size=32, classes=CLASSES, multiclass=True, split_file=str(split))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_data(cfg, tmp_path / "run")
    return [str(w.message) for w in caught]


def test_a_class_found_only_in_validation_is_named(tmp_path):
    messages = _messages(tmp_path / "d", "c3", tmp_path)
    named = [m for m in messages if "'b'" in m and "training" in m]
    assert len(named) == 1, messages
    assert "'a'" not in named[0]


def test_no_word_when_every_class_trains(tmp_path):
    messages = _messages(tmp_path / "d", "c1", tmp_path)
    assert not [m for m in messages if "'a'" in m or "'b'" in m], messages
