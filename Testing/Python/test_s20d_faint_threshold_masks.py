"""A grey mask whose marks all lie at or below the threshold (a 0/1 mask among 0/255 ones) is named, file by file.

Masks without ``data.classes`` are thresholded at > 127. When every mask of a split is 0/1 the run is refused; but a
single 0/1 mask among 0/255 ones (a file exported by another tool) trained as an empty target without a word. Tiny
real PNG masks are read here: the 0/1 file is named with its values and the remedy; empty masks stay silent.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402


def _messages(tmp_path: Path, marks) -> list:
    from PIL import Image

    root = tmp_path / "d"
    for cid, value in marks.items():
        mask = np.zeros((32, 32), np.uint8)
        mask[8:20, 8:20] = value
        for sub, array in (("images", np.full((32, 32, 3), 90, np.uint8)), ("masks", mask)):
            (root / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / sub / f"{cid}.png")
    cfg = DataSection(kind="folder2d", root=str(root), size=32, val_fraction=0.0, test_fraction=0.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_data(cfg, tmp_path / "run")
    return [str(w.message) for w in caught]


def test_a_0_1_mask_among_0_255_masks_is_named(tmp_path):
    messages = _messages(tmp_path, {"c1": 255, "c2": 255, "c3": 1})
    named = [m for m in messages if "c3.png" in m]
    assert len(named) == 1 and "127" in named[0], messages
    assert not [m for m in messages if "c1.png" in m or "c2.png" in m]


def test_empty_and_bright_masks_are_silent(tmp_path):
    messages = _messages(tmp_path, {"c1": 255, "c2": 0, "c3": 200})
    assert not [m for m in messages if ".png" in m], messages
