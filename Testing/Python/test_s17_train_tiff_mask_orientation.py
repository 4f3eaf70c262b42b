"""A TIFF mask whose Orientation tag turns it (5-8) is refused: its image is read as 3D Slicer shows it (only the
tag's mirroring), the mask as Pillow reads it, so image and mask of the same drawing would not line up."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402
from sdseg_training.errors import DatasetError  # noqa: E402


def _tagged_pairs(root: Path, orientation: int) -> Path:
    """Four grey TIFF pictures with their masks, each pair saved alike with the same Orientation tag.

    The foreground is the bright block of the picture itself, so a mask read on its image's grid marks
    exactly the picture's bright pixels.
    """
    from PIL import Image

    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for i in range(4):
        picture = np.full((32, 32), 20, np.uint8)
        picture[2 + i : 10 + i, 3:12] = 230  # off-centre: any mirroring moves it
        for sub, array in (("images", picture), ("masks", np.where(picture > 127, 255, 0).astype(np.uint8))):
            im = Image.fromarray(array)
            exif = im.getexif()
            exif[274] = orientation
            im.save(root / sub / f"c{i}.tif", exif=exif)
    return root


def _load(root: Path, tmp_path: Path):
    cfg = DataSection(kind="folder2d", root=str(root), size=32, val_fraction=0.0, test_fraction=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the engine's note that viewers show the picture turned
        return load_data(cfg, tmp_path / "run", parts=("train",))[2]["train"]


def test_a_tiff_mask_turned_by_its_orientation_tag_is_refused(tmp_path):
    root = _tagged_pairs(tmp_path / "data", 6)
    with pytest.raises(DatasetError, match=r"c\d\.tif: the TIFF mask has Orientation 6"):
        _load(root, tmp_path)


@pytest.mark.parametrize("orientation", [1, 3])
def test_tiff_masks_whose_tag_reads_alike_still_line_up(tmp_path, orientation):
    train = _load(_tagged_pairs(tmp_path / "data", orientation), tmp_path)
    bright = train.images[:, 0] > 0  # [-1, 1] images: the bright block
    assert np.array_equal(train.labels > 0, bright)
