"""REFUGE2 trains on its train and val folders together (800 images), as the paper and the official loader do.

The official loader (lin-tianyu/Stable-Diffusion-Seg ``ldm/data/refuge2.py``) trains on every image that is not a
test image (``train_imgs = all - test``, asserted to be 800: the release's 400 train + 400 val). A tiny real
REFUGE2 folder (train/val/test, two fundus pictures each) is read here; validation is drawn from the pooled 800
(``data.val_fraction``), never from test, and ``data.refuge2_val_as_validation`` keeps the val folder apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402
from sdseg_training.errors import DatasetError  # noqa: E402

SIZE = 32


def _refuge2(root: Path, parts=("train", "val", "test")) -> Path:
    from PIL import Image

    for part in parts:
        for i in range(2):
            grey = np.full((600, 600), 255, np.uint8)  # REFUGE grey masks: 255 background, 128 rim, 0 cup
            grey[250:350, 250:350] = 128
            grey[280:320, 280:320] = 0
            for sub, array in (("images", np.full((600, 600, 3), 40 + 20 * i, np.uint8)), ("masks", grey)):
                (root / part / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(root / part / sub / f"{part[0].upper()}{i}.png")
    return root


def test_the_val_folder_trains_with_train_as_in_the_paper(tmp_path):
    root = _refuge2(tmp_path / "REFUGE2")
    cfg = DataSection(kind="refuge2", root=str(root), size=SIZE, val_fraction=0.0)
    _, split, sets = load_data(cfg, tmp_path / "run", parts=("train",))
    assert sorted(split["train"]) == ["train/T0", "train/T1", "val/V0", "val/V1"]
    assert split["val"] == [] and split["test"] == ["test/T0", "test/T1"]
    assert len(sets["train"]) == 4


def test_validation_is_drawn_from_the_pooled_training_images_never_from_test(tmp_path):
    root = _refuge2(tmp_path / "REFUGE2")
    cfg = DataSection(kind="refuge2", root=str(root), size=SIZE, val_fraction=0.25)
    _, split, _ = load_data(cfg, tmp_path / "run", parts=())
    assert len(split["val"]) == 1 and len(split["train"]) == 3
    assert set(split["train"]) | set(split["val"]) == {"train/T0", "train/T1", "val/V0", "val/V1"}
    assert not set(split["test"]) & (set(split["train"]) | set(split["val"]))


def test_the_val_folder_can_be_kept_for_validation(tmp_path):
    root = _refuge2(tmp_path / "REFUGE2")
    cfg = DataSection(kind="refuge2", root=str(root), size=SIZE, refuge2_val_as_validation=True)
    _, split, _ = load_data(cfg, tmp_path / "run", parts=())
    assert split == {"train": ["train/T0", "train/T1"], "val": ["val/V0", "val/V1"], "test": ["test/T0", "test/T1"]}


def test_keeping_a_missing_val_folder_for_validation_is_refused(tmp_path):
    root = _refuge2(tmp_path / "REFUGE2", parts=("train", "test"))
    cfg = DataSection(kind="refuge2", root=str(root), size=SIZE, refuge2_val_as_validation=True)
    with pytest.raises(DatasetError, match=r"refuge2_val_as_validation.*val"):
        load_data(cfg, tmp_path / "run", parts=())


def test_a_run_recorded_before_the_setting_existed_resumes_unchanged(tmp_path):
    import json

    from sdseg_training.config import load_config
    from sdseg_training.run_record import RECORD_NAME, record_resolved_config

    now = load_config(None, ["data.kind=phantom2d"]).to_dict()
    old = json.loads(json.dumps(now))
    del old["data"]["refuge2_val_as_validation"]  # a record written before the key existed
    (tmp_path / RECORD_NAME).write_text(json.dumps(old))
    assert record_resolved_config(tmp_path, now, step=5) == []
    now["data"]["refuge2_val_as_validation"] = True
    assert record_resolved_config(tmp_path, now, step=5) == ["data.refuge2_val_as_validation"]
