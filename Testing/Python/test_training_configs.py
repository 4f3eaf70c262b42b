"""Every shipped file in training/configs passes the config checker (training configs) or the card checker
(``*.card.yaml``); the two generic configs read a tiny dataset of their documented layout; the README names them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from sdseg_training.config import load_config  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402

CONFIGS = sorted(p for p in (TRAINING / "configs").glob("*.yaml") if not p.name.endswith(".card.yaml"))
CARDS = sorted((TRAINING / "configs").glob("*.card.yaml"))


def test_the_generic_configs_are_shipped_and_documented():
    names = {p.name for p in CONFIGS}
    assert {"folder2d.yaml", "volumes.yaml"} <= names
    readme = (TRAINING / "README.md").read_text(encoding="utf-8")
    assert "configs/folder2d.yaml" in readme and "configs/volumes.yaml" in readme


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_parses_and_validates(path):
    cfg = load_config(str(path))  # types, keys and the class-count rule (config_checks)
    assert cfg.train.output_dir and cfg.autoencoder.output_dir
    assert cfg.train.output_dir != cfg.autoencoder.output_dir  # stage-1 and stage-2 folders are never shared


@pytest.mark.parametrize("path", CARDS, ids=lambda p: p.name)
def test_every_shipped_card_file_passes_the_card_checker(path):
    from sdseg_training.export import _card_fields

    fields = _card_fields(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
    assert fields["model_id"] and fields["license"]


def _png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _volume(path: Path, array: np.ndarray) -> None:
    import SimpleITK as sitk

    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.8, 2.5))
    sitk.WriteImage(image, str(path))


def test_folder2d_config_reads_a_picture_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(10):
        _png(tmp_path / "pics" / "images" / f"case{i:02d}.png", rng.integers(0, 255, (24, 20, 3), dtype=np.uint8))
        mask = np.zeros((24, 20), np.uint8)
        mask[4:12, 5:15] = 255
        _png(tmp_path / "pics" / "masks" / f"case{i:02d}.png", mask)
    cfg = load_config(str(TRAINING / "configs" / "folder2d.yaml"), [f"data.root={tmp_path / 'pics'}", "data.size=16"])
    info, split, sets = load_data(cfg.data, tmp_path / "run", parts=("train", "val", "test"))
    assert info.class_names == ["foreground"] and info.channels == 3
    assert sorted(len(split[p]) for p in ("train", "val", "test")) == [1, 1, 8]
    assert sets["train"].labels.max() == 1


def test_volumes_config_reads_nifti_and_nrrd_label_maps(tmp_path):
    rng = np.random.default_rng(0)
    for i, ext in enumerate([".nii.gz", ".nrrd", ".nii.gz", ".nrrd", ".nii.gz"]):
        _volume(tmp_path / "vols" / "images" / f"case{i}{ext}", rng.normal(0, 100, (3, 20, 20)).astype(np.float32))
        labels = np.zeros((3, 20, 20), np.uint8)
        labels[:, 2:8, 2:8], labels[:, 10:14, 10:14], labels[:, 15:18, 3:6] = 1, 2, 3
        _volume(tmp_path / "vols" / "labels" / f"case{i}{ext}", labels)
    cfg = load_config(str(TRAINING / "configs" / "volumes.yaml"), [f"data.root={tmp_path / 'vols'}", "data.size=16"])
    info, split, sets = load_data(cfg.data, tmp_path / "run", parts=("train", "val", "test"))
    assert info.class_names == ["liver", "kidneys"] and cfg.model.num_classes == len(info.class_names) + 1
    assert sum(len(split[p]) for p in ("train", "val", "test")) == 5 and split["test"]
    assert set(np.unique(sets["train"].labels)) == {0, 1, 2}  # the kidneys class holds label values 2 and 3
