"""2-D mask files that used to read wrongly: multi-page TIFFs, 1-bit PNGs with data.classes, masks drawn in alpha."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402
from sdseg_training.data.preprocess import resize_labels  # noqa: E402
from sdseg_training.errors import DatasetError  # noqa: E402

SIZE = 32


def _box(i: int) -> np.ndarray:
    """(40, 48) bool: one box, shifted by case ``i``."""
    mask = np.zeros((40, 48), bool)
    mask[4 + i:20 + i, 6:30] = True
    return mask


def _dataset(root: Path, save_mask, n: int = 4, ext: str = ".png") -> None:
    """``n`` random RGB pictures and their masks, written by ``save_mask(bool_mask, path)``."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(root / "images" / f"c{i}.png")
        save_mask(_box(i), root / "masks" / f"c{i}{ext}")


def _load(root: Path, classes=()):
    cfg = DataSection(kind="folder2d", root=str(root), size=SIZE, val_fraction=0.0, test_fraction=0.0, classes=list(classes))
    return load_data(cfg, root / "run")


def _expected(ids) -> np.ndarray:
    return resize_labels(np.stack([_box(int(c[1:])).astype(np.uint8) for c in ids]), SIZE)


def test_multi_page_tiff_mask_is_refused_not_read_as_its_first_page(tmp_path):
    from PIL import Image

    def save(mask: np.ndarray, path: Path) -> None:
        pages = [Image.fromarray(mask.astype(np.uint8) * 255), Image.fromarray(np.zeros(mask.shape, np.uint8))]
        pages[0].save(path, save_all=True, append_images=pages[1:])
        with Image.open(path) as back:
            assert back.n_frames == 2  # the file really has two pages

    _dataset(tmp_path, save, ext=".tif")
    with pytest.raises(DatasetError, match=r"c0\.tif: the mask file holds 2 pages.*single-page"):
        _load(tmp_path)


def test_one_bit_mask_with_classes_reads_its_bits_as_label_one(tmp_path):
    from PIL import Image

    def save(mask: np.ndarray, path: Path) -> None:
        Image.fromarray(mask).save(path)
        with Image.open(path) as back:
            assert back.mode == "1"

    _dataset(tmp_path, save)
    _, split, sets = _load(tmp_path, [{"name": "box", "labels": [1]}])
    np.testing.assert_array_equal(sets["train"].labels, _expected(split["train"]))


def test_one_bit_mask_without_classes_still_thresholds(tmp_path):
    from PIL import Image

    _dataset(tmp_path, lambda mask, path: Image.fromarray(mask).save(path))
    _, split, sets = _load(tmp_path)
    np.testing.assert_array_equal(sets["train"].labels, _expected(split["train"]))


def test_mask_drawn_in_alpha_is_refused_with_the_file_and_the_remedy(tmp_path):
    from PIL import Image

    def save(mask: np.ndarray, path: Path) -> None:
        rgba = np.zeros(mask.shape + (4,), np.uint8)  # black everywhere; the box is opaque, the rest transparent
        rgba[..., 3] = mask * 255
        Image.fromarray(rgba, "RGBA").save(path)

    _dataset(tmp_path, save)
    with pytest.raises(DatasetError, match=r"c0\.png: the mask is drawn in its alpha channel.*getchannel\('A'\)"):
        _load(tmp_path)


def test_mask_with_transparent_background_and_coloured_foreground_still_reads(tmp_path):
    from PIL import Image

    def save(mask: np.ndarray, path: Path) -> None:
        rgba = np.zeros(mask.shape + (4,), np.uint8)
        rgba[mask] = 255  # white, opaque box on a transparent black background
        Image.fromarray(rgba, "RGBA").save(path)

    _dataset(tmp_path, save)
    _, split, sets = _load(tmp_path)
    np.testing.assert_array_equal(sets["train"].labels, _expected(split["train"]))
