"""Audit s18b: the STS-3D release layout (``image/`` + ``label/``) and 16-bit REFUGE2 grey masks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402
from sdseg_training.data.masks import refuge_cup  # noqa: E402
from sdseg_training.errors import DatasetError  # noqa: E402

SIZE = 32


def _volume(path: Path, array: np.ndarray) -> None:
    import SimpleITK as sitk

    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))


def _sts_case(root: Path, images: str, labels: str, cid: str, teeth_rows: slice) -> None:
    vol = np.full((2, 16, 16), -100, np.float32)
    lab = np.zeros((2, 16, 16), np.uint8)
    vol[:, teeth_rows, 4:10] = 1100  # the window top: +1
    lab[:, teeth_rows, 4:10] = 1
    _volume(root / images / f"{cid}.nii.gz", vol)
    _volume(root / labels / f"{cid}.nii.gz", lab)


# ---------------------------------------------------------------- 5. STS-3D release layout
def test_sts3d_reads_the_release_layout(tmp_path):
    root = tmp_path / "sts"
    for i, cid in enumerate(("a", "b", "c", "d")):
        _sts_case(root, "image", "label", cid, slice(2 + i, 8 + i))
    cfg = DataSection(kind="sts3d", root=str(root), size=SIZE, val_fraction=0.0, test_fraction=0.25)
    info, split, sets = load_data(cfg, tmp_path / "run", parts=("train", "test"))
    assert sorted(split["train"] + split["test"]) == ["a", "b", "c", "d"]
    assert info.label_folder == str(root / "label") and info.class_names == ["teeth"]
    assert sets["train"].labels.max() == 1 and float(sets["train"].images.max()) == pytest.approx(1.0, abs=1e-3)


def test_sts3d_refuses_both_layouts_in_one_root(tmp_path):
    root = tmp_path / "sts"
    for cid in ("a", "b"):
        _sts_case(root, "images", "labels", cid, slice(2, 8))
        _sts_case(root, "image", "label", cid + "x", slice(3, 9))
    cfg = DataSection(kind="sts3d", root=str(root), size=SIZE, test_fraction=0.25)
    with pytest.raises(DatasetError, match=r"image/.*label/|images/ \+ labels/"):
        load_data(cfg, tmp_path / "run", parts=())


def test_sts3d_documented_layout_still_reads(tmp_path):
    root = tmp_path / "sts"
    for cid in ("a", "b", "c", "d"):
        _sts_case(root, "images", "labels", cid, slice(2, 8))
    info, split, _ = load_data(DataSection(kind="sts3d", root=str(root), size=SIZE, test_fraction=0.25),
                               tmp_path / "run", parts=())
    assert len(split["test"]) == 1 and info.label_folder == str(root / "labels")


# ---------------------------------------------------------------- 6. 16-bit REFUGE2 grey masks
def _refuge_grey(scale: int) -> np.ndarray:
    grey = np.full((60, 60), 255 * scale, np.uint16)  # REFUGE: 255 background, 128 rim, 0 cup (x 257 in 16 bits)
    grey[10:50, 10:50] = 128 * scale
    grey[25:35, 25:35] = 0
    return grey


@pytest.mark.parametrize("scale", [257, 1])  # the 16-bit scale (0, 32896, 65535) and 8-bit values in a 16-bit file
def test_sixteen_bit_refuge_mask_keeps_its_rim(tmp_path, scale):
    from PIL import Image

    eight = tmp_path / "mask8.png"
    Image.fromarray(_refuge_grey(1).astype(np.uint8)).save(eight)
    wide = tmp_path / "mask16.png"
    Image.fromarray(_refuge_grey(scale)).save(wide)
    with Image.open(wide) as im:
        assert im.mode.startswith("I")  # a real 16-bit file
    expected = refuge_cup(eight)
    assert set(np.unique(expected)) == {0, 1, 2}
    np.testing.assert_array_equal(refuge_cup(wide), expected)


def test_sixteen_bit_refuge_mask_crops_on_the_disc(tmp_path):
    """End to end: the disc-centred crop of a 16-bit release matches the 8-bit one."""
    from PIL import Image

    for bits, scale, dtype in ((8, 1, np.uint8), (16, 257, np.uint16)):
        for part in ("train", "test"):
            grey = np.full((300, 300), 255 * scale, dtype)
            grey[20:120, 30:130] = 128 * scale  # the disc off centre: the crop must find it by its rim
            grey[60:80, 70:90] = 0
            for folder, array in (("images", np.full((300, 300, 3), 60, np.uint8)), ("masks", grey)):
                (tmp_path / f"r{bits}" / part / folder).mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(tmp_path / f"r{bits}" / part / folder / "g0.png")
    labels = []
    for bits in (8, 16):
        cfg = DataSection(kind="refuge2", root=str(tmp_path / f"r{bits}"), size=SIZE)
        _, _, sets = load_data(cfg, tmp_path / f"run{bits}", parts=("test",))
        labels.append(sets["test"].labels)
    np.testing.assert_array_equal(labels[1], labels[0])


def test_refuge_mask_beyond_sixteen_bits_is_refused(tmp_path):
    from PIL import Image

    path = tmp_path / "m.tif"
    Image.fromarray(np.array([[0, 70000], [128, 255]], np.int32)).save(path)
    with pytest.raises(DatasetError, match="0..65535"):
        refuge_cup(path)
