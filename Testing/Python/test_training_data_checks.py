"""Dataset loader checks: empty targets, 16-bit pictures, label grids and values, hidden and orphan files."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import DataSection  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402
from sdseg_training.errors import DatasetError  # noqa: E402

SIZE = 32


def _png(path: Path, array: np.ndarray) -> str:
    """Save ``array`` as a PNG; returns the Pillow mode (uint16 -> ``I;16``)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array)
    image.save(path)
    return image.mode


def _folder2d(root: Path, n: int = 5, mask_value=255, rgb_mask=None) -> None:
    """``n`` random RGB images with a box mask of ``mask_value`` (or an RGB colour ``rgb_mask``)."""
    rng = np.random.default_rng(0)
    for i in range(n):
        _png(root / "images" / f"c{i}.png", rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))
        box = np.zeros((40, 48), bool)
        box[5 + i:25 + i, 10:30] = True
        if rgb_mask is not None:
            _png(root / "masks" / f"c{i}.png", (box[..., None] * np.asarray(rgb_mask, np.uint8)).astype(np.uint8))
        else:
            _png(root / "masks" / f"c{i}.png", (box * mask_value).astype(np.uint8))


def _volume(path: Path, array: np.ndarray, spacing=(0.8, 0.8, 2.5), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
            origin=(0.0, 0.0, 0.0)) -> None:
    import SimpleITK as sitk

    path.parent.mkdir(parents=True, exist_ok=True)
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(spacing)
    img.SetDirection(direction)
    img.SetOrigin(origin)
    sitk.WriteImage(img, str(path))


def _volumes(root: Path, labels: np.ndarray, n: int = 2, **label_geometry) -> None:
    vol = np.zeros(labels.shape, np.float32)
    for i in range(n):
        _volume(root / "images" / f"v{i}.nii.gz", vol)
        _volume(root / "labels" / f"v{i}.nii.gz", labels, **label_geometry)


def _cfg(root: Path, **kw) -> DataSection:
    return DataSection(root=str(root), size=SIZE, val_fraction=0.2, test_fraction=0.0, **kw)


@pytest.mark.parametrize("mask_value,rgb_mask,classes,found", [
    (1, None, [], r"\[0, 1\]"),                                   # 0/1 masks, no data.classes
    (2, None, [], r"\[0, 2\]"),                                   # label maps without data.classes
    (None, (255, 0, 0), [], r"\[0, 76\]"),                        # pure red colour masks
    (255, None, [{"name": "a", "labels": [1]}], r"\[0, 255\]"),   # 0/255 masks declared as label 1
])
def test_folder2d_refuses_all_empty_targets(tmp_path, mask_value, rgb_mask, classes, found):
    _folder2d(tmp_path / "d", mask_value=mask_value, rgb_mask=rgb_mask)
    with pytest.raises(DatasetError, match=rf"d/masks: no train mask has any foreground.*found: {found}.*Remedy"):
        load_data(_cfg(tmp_path / "d", kind="folder2d", classes=classes), tmp_path / "run")


def test_folder2d_01_masks_train_with_declared_classes_and_unused_class_warns(tmp_path):
    _folder2d(tmp_path / "d", mask_value=1)
    classes = [{"name": "a", "labels": [1]}, {"name": "b", "labels": [2]}]
    with pytest.warns(UserWarning, match=r"class 'b' \(label values \[2\]\) occurs in none"):
        _, _, sets = load_data(_cfg(tmp_path / "d", kind="folder2d", classes=classes), tmp_path / "run")
    assert 0.1 < float((sets["train"].labels == 1).mean()) < 0.4


def test_folder2d_16bit_png_reads_like_the_engine(tmp_path):
    from SDSegLogic.io import read_image
    from sdseg_training.data.preprocess import resize_images, rgb_to_unit

    _folder2d(tmp_path / "d", n=1)
    grey16 = (np.linspace(0, 65535, 40 * 48).reshape(40, 48)).astype(np.uint16)
    (tmp_path / "d" / "images" / "c0.png").unlink()
    assert _png(tmp_path / "d" / "images" / "c0.png", grey16) == "I;16"
    cfg = DataSection(root=str(tmp_path / "d"), size=SIZE, kind="folder2d", val_fraction=0.0, test_fraction=0.0)
    _, _, sets = load_data(cfg, tmp_path / "run", parts=("train",))
    loaded = sets["train"].images[0].astype(np.float32)
    engine = read_image(tmp_path / "d" / "images" / "c0.png")
    assert engine.metadata["original_dtype"] == "uint16" and not engine.is_rgb
    grey = engine.array[0]
    expected = resize_images(rgb_to_unit(np.repeat(grey[..., None], 3, axis=-1))[None], SIZE, "bilinear")[0]
    assert np.allclose(loaded, expected, atol=2e-3)  # float16 storage
    assert float(loaded.max() - loaded.min()) > 1.5  # a ramp, not a saturated white picture


def test_volumes_label_on_another_grid_is_refused(tmp_path):
    labels = np.zeros((3, 16, 16), np.uint8)
    labels[:, 4:8, 4:8] = 1
    _volumes(tmp_path / "v", labels, direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1))  # mirrored in i, same shape
    with pytest.raises(DatasetError, match=r"labels/v0\.nii\.gz: the label map is not on the grid of its image .*images/v0"):
        load_data(_cfg(tmp_path / "v", kind="volumes", window=(-100, 100)), tmp_path / "run")
    _volumes(tmp_path / "w", labels, spacing=(1.0, 1.0, 2.5))
    with pytest.raises(DatasetError, match=r"spacing"):
        load_data(_cfg(tmp_path / "w", kind="volumes", window=(-100, 100)), tmp_path / "run2")


@pytest.mark.parametrize("dtype,value,match", [
    (np.int16, -3, r"label values \[-3\] are negative"),  # ids above 255 are kept: test_s19_training_wide_label_values
    (np.float32, 1.5, r"label map holds non-integral values \[1\.5\]"),
])
def test_volumes_bad_label_values_are_refused(tmp_path, dtype, value, match):
    labels = np.zeros((3, 16, 16), dtype)
    labels[:, 4:8, 4:8] = 1
    labels[:, 10:12, 10:12] = value
    _volumes(tmp_path / "v", labels)
    with pytest.raises(DatasetError, match=r"labels/v0\.nii\.gz: " + match):
        load_data(_cfg(tmp_path / "v", kind="volumes", window=(-100, 100)), tmp_path / "run")


def test_volumes_near_integer_float_labels_are_rounded(tmp_path):
    labels = np.zeros((3, 16, 16), np.float32)
    labels[:, 4:8, 4:8] = 1.999998
    _volumes(tmp_path / "v", labels)
    classes = [{"name": "a", "labels": [2]}]
    _, _, sets = load_data(_cfg(tmp_path / "v", kind="volumes", window=(-100, 100), classes=classes), tmp_path / "run")
    assert sets["train"].labels.max() == 1


def test_class_label_above_16_bits_is_refused_clearly(tmp_path):
    labels = np.zeros((3, 16, 16), np.uint8)
    labels[:, 4:8, 4:8] = 5
    _volumes(tmp_path / "v", labels)
    classes = [{"name": "a", "labels": [5]}, {"name": "big", "labels": [70000]}]
    with pytest.raises(DatasetError, match=r"class 'big' lists label value 70000; label values must be integers in 1\.\.65535"):
        load_data(_cfg(tmp_path / "v", kind="volumes", window=(-100, 100), classes=classes), tmp_path / "run")


def test_undeclared_label_values_warn_once_per_file(tmp_path):
    labels = np.zeros((3, 16, 16), np.uint8)
    labels[:, 4:8, 4:8] = 1
    labels[:, 10:12, 10:12] = 3
    _volumes(tmp_path / "v", labels, n=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_data(_cfg(tmp_path / "v", kind="volumes", window=(-100, 100), classes=[{"name": "a", "labels": [1]}]),
                  tmp_path / "run")
    undeclared = [str(w.message) for w in caught if "not declared in data.classes" in str(w.message)]
    assert len(undeclared) == 3 and all("label values [3]" in m for m in undeclared)
    assert sorted(m.split(": ")[0].rsplit("/", 1)[-1] for m in undeclared) == ["v0.nii.gz", "v1.nii.gz", "v2.nii.gz"]


def test_hidden_files_are_skipped_and_orphan_masks_warn(tmp_path):
    _folder2d(tmp_path / "d")
    (tmp_path / "d" / "images" / "._c0.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")  # macOS metadata
    (tmp_path / "d" / "masks" / "._c0.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    (tmp_path / "d" / "masks" / ".DS_Store.png").write_bytes(b"junk")
    (tmp_path / "d" / "masks" / "extra.png").write_bytes((tmp_path / "d" / "masks" / "c0.png").read_bytes())
    with pytest.warns(UserWarning, match=r"mask\(s\) without an image of the same name are ignored: \['extra\.png'\]"):
        info, _, sets = load_data(_cfg(tmp_path / "d", kind="folder2d"), tmp_path / "run")
    assert sorted(info.cases) == ["c0", "c1", "c2", "c3", "c4"]
    assert sets["train"].labels.any()
