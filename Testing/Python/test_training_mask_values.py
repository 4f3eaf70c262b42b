"""2-D masks read as label values: palette PNGs by their indices, 16-bit masks without clipping to 255."""

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
#: VOC's palette for indices 0, 1 and 15 (background black, aeroplane dark red, person pink)
VOC = {0: (0, 0, 0), 1: (128, 0, 0), 15: (192, 128, 128)}


def _label_map(i: int, values=(1, 15)) -> np.ndarray:
    """(40, 48) integers: two boxes holding ``values``, shifted by case ``i``."""
    lab = np.zeros((40, 48), np.int64)
    lab[4 + i:16 + i, 6:20] = values[0]
    lab[22:34, 26 + i:42] = values[1]
    return lab


def _dataset(root: Path, save_mask, n: int = 5, values=(1, 15)) -> None:
    """``n`` random RGB pictures and their masks, written by ``save_mask(label_map, path)``."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(root / "images" / f"c{i}.png")
        save_mask(_label_map(i, values), root / "masks" / f"c{i}.png")


def _palette_png(palette):
    def save(lab: np.ndarray, path: Path) -> None:
        from PIL import Image

        im = Image.fromarray(lab.astype(np.uint8), "P")
        im.putpalette(palette)
        im.save(path)
        with Image.open(path) as back:
            assert back.mode == "P"  # the file really is a palette PNG
    return save


def _png16(lab: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(lab.astype(np.uint16)).save(path)
    with Image.open(path) as back:
        assert back.mode.startswith("I")  # 16-bit grey


def _cfg(root: Path, classes=()) -> DataSection:
    return DataSection(kind="folder2d", root=str(root), size=SIZE, val_fraction=0.0, test_fraction=0.0, classes=list(classes))


def _expected(split_ids, mapping) -> np.ndarray:
    """The class maps the loader should give, resized as it resizes labels.

    ``mapping``: box -> class index, the boxes named by their values in the default :func:`_label_map`.
    """
    maps = []
    for cid in split_ids:
        lab = _label_map(int(cid[1:]))
        out = np.zeros(lab.shape, np.uint8)
        for value, index in mapping.items():
            out[lab == value] = index
        maps.append(out)
    return resize_labels(np.stack(maps), SIZE)


VOC_PALETTE = [c for index in range(256) for c in VOC.get(index, (64, 32, 96))]


@pytest.mark.parametrize("palette", [VOC_PALETTE, VOC_PALETTE[:48]], ids=["256-colours", "16-colours"])
def test_palette_mask_classes_are_its_indices(tmp_path, palette):
    """A VOC-style palette mask holds class indices 1 and 15; before, it was read as the grey of their
    colours (38 and 147), so that every target came out empty."""
    _dataset(tmp_path / "d", _palette_png(palette))
    classes = [{"name": "aeroplane", "labels": [1]}, {"name": "person", "labels": [15]}]
    _, split, sets = load_data(_cfg(tmp_path / "d", classes), tmp_path / "run", parts=("train",))
    assert np.array_equal(sets["train"].labels, _expected(split["train"], {1: 1, 15: 2}))


def test_black_and_white_palette_mask_is_read_as_its_greys(tmp_path):
    """Indices 0/1 shown black/white: the threshold rule sees 0/255 (a grey mask stored with a palette)."""
    _dataset(tmp_path / "d", _palette_png([0, 0, 0, 255, 255, 255]), values=(1, 1))
    _, split, sets = load_data(_cfg(tmp_path / "d"), tmp_path / "run", parts=("train",))
    assert np.array_equal(sets["train"].labels, _expected(split["train"], {1: 1, 15: 1}))


def test_coloured_palette_mask_without_classes_names_its_indices(tmp_path):
    """The threshold rule on a class-index palette mask: refused, naming the indices (what data.classes takes)."""
    _dataset(tmp_path / "d", _palette_png(VOC_PALETTE))
    with pytest.raises(DatasetError, match=r"label values found: \[0, 1, 15\]"):
        load_data(_cfg(tmp_path / "d"), tmp_path / "run", parts=("train",))


def test_16bit_mask_label_values_are_kept(tmp_path):
    _dataset(tmp_path / "d", _png16, values=(3, 200))
    classes = [{"name": "a", "labels": [3]}, {"name": "b", "labels": [200]}]
    _, split, sets = load_data(_cfg(tmp_path / "d", classes), tmp_path / "run", parts=("train",))
    assert np.array_equal(sets["train"].labels, _expected(split["train"], {1: 1, 15: 2}))


def test_16bit_mask_ids_above_255_are_refused_not_merged(tmp_path):
    """Ids 256 and 300 were clipped to 255, so that both became the class declared for 255."""
    _dataset(tmp_path / "d", _png16, values=(256, 300))
    classes = [{"name": "a", "labels": [255]}]
    with pytest.raises(DatasetError, match=r"masks/c0\.png: label values \[256, 300\] are outside 0\.\.255"):
        load_data(_cfg(tmp_path / "d", classes), tmp_path / "run", parts=("train",))


def test_16bit_binary_mask_still_thresholds(tmp_path):
    """0/65535 masks without data.classes: foreground where the value is > 127, as before."""
    _dataset(tmp_path / "d", _png16, values=(65535, 65535))
    _, split, sets = load_data(_cfg(tmp_path / "d"), tmp_path / "run", parts=("train",))
    assert np.array_equal(sets["train"].labels, _expected(split["train"], {1: 1, 15: 1}))
