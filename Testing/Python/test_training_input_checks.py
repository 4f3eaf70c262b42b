"""A researcher's slightly wrong inputs: duplicate case files, edited split files, config ranges, card metrics."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sdseg_training import cli  # noqa: E402
from sdseg_training.config import DataSection, load_config  # noqa: E402
from sdseg_training.data import load_data  # noqa: E402
from sdseg_training.errors import DatasetError, TrainingConfigError  # noqa: E402

SIZE = 32


def _png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _folder2d(root: Path, n: int = 6) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        _png(root / "images" / f"c{i}.png", rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))
        mask = np.zeros((40, 48), np.uint8)
        mask[5 + i:25, 10:30] = 255
        _png(root / "masks" / f"c{i}.png", mask)


def _cfg(root: Path, **kw) -> DataSection:
    kw.setdefault("val_fraction", 0.2)
    kw.setdefault("test_fraction", 0.2)
    return DataSection(kind="folder2d", root=str(root), size=SIZE, **kw)


def _quiet_load(cfg: DataSection, run: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_data(cfg, run, parts=())


def test_two_pictures_of_one_case_are_refused_not_picked_by_listing_order(tmp_path):
    """``c1.png`` and ``c1.JPG``: which one trained depended on the folder's listing order."""
    _folder2d(tmp_path / "d")
    _png(tmp_path / "d" / "images" / "c1.JPG", np.zeros((40, 48, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"d/images: 1 case id\(s\) are given by more than one file: c1.JPG and c1.png"):
        load_data(_cfg(tmp_path / "d"), tmp_path / "run")


def test_two_volumes_of_one_case_are_refused(tmp_path):
    import SimpleITK as sitk

    for folder in ("images", "labels"):
        (tmp_path / "v" / folder).mkdir(parents=True)
        for name in ("v0.nii.gz", "v1.nii.gz") + (("v1.nii",) if folder == "labels" else ()):
            sitk.WriteImage(sitk.GetImageFromArray(np.ones((2, 8, 8), np.uint8)), str(tmp_path / "v" / folder / name))
    cfg = DataSection(kind="volumes", root=str(tmp_path / "v"), size=SIZE, window=(0.0, 1.0))
    with pytest.raises(DatasetError, match=r"v/labels: .*v1.nii and v1.nii.gz"):
        load_data(cfg, tmp_path / "run")


@pytest.mark.parametrize("what, image, label", [
    ("2-D image", np.zeros((8, 8), np.float32), np.ones((8, 8), np.uint8)),
    ("colour label map", np.zeros((2, 8, 8), np.float32), np.ones((2, 8, 8, 3), np.uint8)),
    ("colour image", np.zeros((2, 8, 8, 3), np.float32), np.ones((2, 8, 8), np.uint8)),
])
def test_volume_files_that_are_not_scalar_3d_are_data_errors(tmp_path, what, image, label):
    """A 2-D NIfTI crashed in SimpleITK's DICOMOrient, a vector one in MONAI's Resize (exit 1, 'a bug')."""
    import SimpleITK as sitk

    for folder, array in (("images", image), ("labels", label)):
        (tmp_path / "v" / folder).mkdir(parents=True)
        for i in range(2):
            sitk.WriteImage(sitk.GetImageFromArray(array, isVector=array.ndim == 4), str(tmp_path / "v" / folder / f"v{i}.nii.gz"))
    cfg = DataSection(kind="volumes", root=str(tmp_path / "v"), size=SIZE, window=(0.0, 1.0), val_fraction=0.5, test_fraction=0.0)
    with pytest.raises(DatasetError, match=r"v0.nii.gz: a [23]-D image with [13] value\(s\) per voxel; volume data needs"):
        load_data(cfg, tmp_path / "run")


def test_btcv_ids_without_zero_padding_keep_the_transunet_test_split(tmp_path):
    """``img1.nii.gz`` was case '1', not TransUNet's test volume '0001': the test split came out empty, all trained."""
    import SimpleITK as sitk

    lab = np.zeros((2, 8, 8), np.uint8)
    lab[:, 2:5, 2:5] = 6
    for n in (1, 2, 5, 6, 7):
        for folder, stem, array in (("img", "img", np.zeros((2, 8, 8), np.float32)), ("label", "label", lab)):
            (tmp_path / "b" / folder).mkdir(parents=True, exist_ok=True)
            sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / "b" / folder / f"{stem}{n}.nii.gz"))
    _, split, _ = load_data(DataSection(kind="btcv", root=str(tmp_path / "b"), size=SIZE, val_fraction=0.34), tmp_path / "run", parts=())
    assert split["test"] == ["0001", "0002"] and sorted(split["train"] + split["val"]) == ["0005", "0006", "0007"]


def _edit_split(run: Path, **parts) -> None:
    path = run / "split.json"
    data = json.loads(path.read_text())
    for part, ids in parts.items():
        if ids is None:
            del data[part]
        else:
            data[part] = ids
    path.write_text(json.dumps(data))


def test_split_file_with_a_case_in_train_and_val_is_refused(tmp_path):
    _folder2d(tmp_path / "d")
    _, split, _ = _quiet_load(_cfg(tmp_path / "d"), tmp_path / "run")
    _edit_split(tmp_path / "run", val=split["val"] + split["train"][:1])
    with pytest.raises(DatasetError, match=rf"cases \['{split['train'][0]}'\] are in both train and val"):
        _quiet_load(_cfg(tmp_path / "d"), tmp_path / "run")


@pytest.mark.parametrize("val", [None, "c1", ["c1", "c1"]])
def test_malformed_split_file_is_a_dataset_error(tmp_path, val):
    """A hand-edited split file: a missing part was a KeyError (exit 1, 'a bug'); a string, or a repeated id."""
    _folder2d(tmp_path / "d")
    _quiet_load(_cfg(tmp_path / "d"), tmp_path / "run")
    _edit_split(tmp_path / "run", val=val, train=["c0", "c2", "c3"], test=["c4"])
    with pytest.raises(DatasetError, match=r"split.json: ('val' must be a list of case ids|val lists cases \['c1'\] more than once)"):
        _quiet_load(_cfg(tmp_path / "d"), tmp_path / "run")


def test_existing_split_that_contradicts_data_test_cases_is_refused(tmp_path):
    """data.test_cases was silently ignored when the split file existed: the requested test cases trained."""
    _folder2d(tmp_path / "d")
    _, split, _ = _quiet_load(_cfg(tmp_path / "d"), tmp_path / "run")
    wanted = split["train"][:2]
    with pytest.raises(DatasetError, match=r"are not data.test_cases .* Delete the split file"):
        _quiet_load(_cfg(tmp_path / "d", test_cases=wanted), tmp_path / "run")
    _, same, _ = _quiet_load(_cfg(tmp_path / "d", test_cases=list(split["test"])), tmp_path / "run")
    assert same == split


def test_cases_added_after_the_split_was_drawn_are_reported(tmp_path):
    _folder2d(tmp_path / "d")
    _, split, _ = _quiet_load(_cfg(tmp_path / "d"), tmp_path / "run")
    _folder2d(tmp_path / "d", n=8)  # c6, c7 arrive later
    with pytest.warns(UserWarning, match=r"2 case\(s\) of the data are in none of its parts and are not used: \['c6', 'c7'\]"):
        _, again, _ = load_data(_cfg(tmp_path / "d"), tmp_path / "run", parts=())
    assert again == split


@pytest.mark.parametrize("override, message", [
    ("data.val_fraction=1.5", r"val_fraction=1.5 must be between 0 and 1"),
    ("data.test_fraction=-0.1", r"test_fraction=-0.1 must be between 0 and 1"),
    ("train.lambda_latent=.nan", r"lambda_latent=nan is not a number"),
    ("optim.lr=-1", r"lr=-1 must be >= 0"),
    ("data.test_fraction=0.5", r"val_fraction=0.5 \+ data.test_fraction=0.5 leaves no training cases"),
])
def test_out_of_range_numbers_are_config_errors(override, message):
    with pytest.raises(TrainingConfigError, match=message):
        load_config(None, ["data.val_fraction=0.5", override] if "test_fraction=0.5" in override else [override])


def test_config_ranges_keep_negative_windows():
    assert load_config(None, ["data.window=[-125, 275]"]).data.window == (-125.0, 275.0)


def test_batch_larger_than_the_data_is_a_one_line_config_error(tmp_path, capsys):
    args = ["model.preset=tiny", "model.autoencoder=random", "model.condition_encoder_init=null", "data.kind=phantom2d",
            "data.size=32", "data.phantom_cases=6", "train.batch_size=50", "train.max_steps=1",
            f"train.output_dir={tmp_path / 'run'}"]
    (tmp_path / "c.yaml").write_text("")
    assert cli.train_main([str(tmp_path / "c.yaml"), *args]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err and "cannot fill one batch of 50" in err.strip().splitlines()[-1]


def test_export_refuses_metrics_of_another_checkpoint_or_split(tmp_path, capsys):
    """The card records --metrics as the test metrics of the exported weights."""
    from sdseg_training.autoencoder import train_autoencoder
    from sdseg_training.trainer import Stage2Trainer

    common = ["model.preset=tiny", "model.condition_encoder_init=null", "data.kind=phantom2d", "data.size=32",
              "data.phantom_cases=8", "train.batch_size=4", "train.val_every=2", "train.ckpt_every=2",
              "train.log_every=1", "optim.warmup_steps=1", "train.max_steps=2", "train.num_threads=1"]
    ae = tmp_path / "ae"
    train_autoencoder(load_config(None, common + [f"autoencoder.output_dir={ae}", "autoencoder.max_steps=1",
                                                  "autoencoder.val_every=1", "autoencoder.batch_size=4",
                                                  f"train.output_dir={tmp_path / 'ae_split'}"]), log=lambda *_: None)
    args = common + [f"model.autoencoder={ae}", f"train.output_dir={tmp_path / 's2'}"]
    Stage2Trainer(load_config(None, args)).run()
    (tmp_path / "c.yaml").write_text("")
    scores = {"dice": 0.5, "iou": 0.4, "per_class": {"foreground": {"dice": 0.5, "iou": 0.4}}}
    for split, step, wanted in (("val", 2, "scores of the 'val' split"), ("test", 1, "checkpoint at step 1")):
        metrics = tmp_path / f"{split}{step}.json"
        metrics.write_text(json.dumps({"checkpoint": "x", "step": step, "split": split, "results": {"steps=1": scores}}))
        out = tmp_path / f"model-{split}{step}"
        assert cli.export_main([str(tmp_path / "c.yaml"), *args, "--out", str(out), "--metrics", str(metrics)]) == cli.EXIT_USAGE
        assert wanted in capsys.readouterr().err and not out.exists()
    good = tmp_path / "test2.json"
    good.write_text(json.dumps({"checkpoint": "x", "step": 2, "split": "test", "results": {"steps=1": scores}}))
    assert cli.export_main([str(tmp_path / "c.yaml"), *args, "--out", str(tmp_path / "model"), "--metrics", str(good)]) == 0
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["training"]["test_metrics"]["checkpoint_step"] == 2
