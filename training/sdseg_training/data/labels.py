"""Label values: the class lookup tables, per-file value checks and the checks after loading a split.

A case records the raw label values it held (:attr:`~.slices.Case.label_values`, before the
class mapping) when it is loaded; :func:`check_loaded` then refuses a split whose targets are all
empty and warns about declared classes that never occur and about undeclared label values.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DatasetError

__all__ = ["class_lut", "threshold_lut", "present_values", "integral_labels", "check_loaded", "MASK_THRESHOLD"]

#: Grey masks without ``data.classes`` are foreground where the value is > 127.
MASK_THRESHOLD = 127
#: Float label maps within this distance of an integer are rounded to it; others are refused.
FLOAT_LABEL_TOL = 1e-3
#: At most this many per-file warnings about undeclared label values, then one summary.
MAX_FILE_WARNINGS = 20


def class_lut(classes: Sequence[dict], max_value: int = 256) -> Tuple[np.ndarray, List[str]]:
    """Lookup table source label value -> class index, and the class names.

    Args:
        classes: ``data.classes`` entries ``{name, labels}``; empty = binary union of values > 0.
        max_value: size of the table (label values 0..max_value - 1 are representable).

    Raises:
        DatasetError: a label value that is not an integer in 1..max_value - 1.
    """
    lut = np.zeros(max_value, np.uint8)
    if not classes:
        lut[1:] = 1
        return lut, ["foreground"]
    for index, spec in enumerate(classes, start=1):
        for value in spec["labels"]:
            lut[_class_value(value, spec, max_value)] = index
    return lut, [str(spec["name"]) for spec in classes]


def _class_value(value, spec: dict, max_value: int) -> int:
    ok = isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not ok or not 1 <= int(value) < max_value:
        raise DatasetError(
            f"data.classes: class {spec.get('name')!r} lists label value {value!r}; label values must be integers in "
            f"1..{max_value - 1} (0 is background, label maps are read as 8-bit). Relabel the files with values "
            f"1..{max_value - 1} and list those in data.classes."
        )
    return int(value)


def threshold_lut(threshold: int = MASK_THRESHOLD) -> np.ndarray:
    """Lookup table of a binary grey mask: values > ``threshold`` are class 1."""
    lut = np.zeros(256, np.uint8)
    lut[threshold + 1:] = 1
    return lut


def present_values(labels: np.ndarray) -> frozenset:
    """The distinct values of an integer label array with values 0..255 (one bincount pass)."""
    counts = np.bincount(np.asarray(labels, dtype=np.uint8).ravel(), minlength=256)
    return frozenset(int(v) for v in np.flatnonzero(counts))


def integral_labels(array: np.ndarray, path: Path) -> np.ndarray:
    """Check a label map holds integers 0..255 and return it as uint8.

    Float maps within :data:`FLOAT_LABEL_TOL` of integers (e.g. 1.999998 from resampling) are rounded.

    Raises:
        DatasetError: non-finite or non-integral float values, or values outside 0..255 (named).
    """
    if array.dtype.kind == "f":
        rounded = np.rint(array)
        off = ~(np.abs(array - rounded) <= FLOAT_LABEL_TOL)  # also catches NaN
        if off.any():
            bad = np.unique(array[off])[:8].tolist()
            raise DatasetError(f"{path}: label map holds non-integral values {bad}; a label map must hold whole class "
                               "numbers. Re-save it with an integer voxel type (resample labels by nearest neighbour).")
        array = rounded
    elif array.dtype.kind not in "uib":
        raise DatasetError(f"{path}: label voxel type {array.dtype} is not supported; save integer labels.")
    low, high = array.min(initial=0), array.max(initial=0)
    if low < 0 or high > 255:
        bad = np.unique(array[(array < 0) | (array > 255)])[:8].tolist()
        raise DatasetError(f"{path}: label values {[int(v) for v in bad]} are outside 0..255; labels are read as 8-bit. "
                           "Renumber the labels to 1..255 and list those values in data.classes.")
    return array.astype(np.uint8)


def _values_text(values: Iterable[int], limit: int = 12) -> str:
    vals = sorted(values)
    return str(vals[:limit])[:-1] + (f", ... ({len(vals)} values)]" if len(vals) > limit else "]")


def _remedy(info, found: frozenset) -> str:
    if info.label_rule == "threshold":
        return (f"masks are thresholded at > {MASK_THRESHOLD} (colour masks are first converted to grey, "
                "L = 0.299 R + 0.587 G + 0.114 B); 0/1 masks: save them as 0/255, or declare data.classes with "
                "labels [1] (label maps: one class per value, e.g. [{name: a, labels: [1]}, {name: b, labels: [2]}])")
    if info.label_rule == "classes":
        return (f"list the foreground values the files hold ({_values_text(v for v in found if v)}) in the labels of "
                "data.classes; values not listed become background")
    return "check data.root and the label files: the label maps hold no foreground value"


def check_loaded(info, sets: Dict[str, object], cases: Dict[str, object]) -> None:
    """Refuse empty targets, warn about unused classes and undeclared label values.

    Args:
        info: the :class:`~.sources.DatasetInfo` (``label_folder``, ``label_rule``, ``lut``).
        sets: loaded part -> :class:`~.slices.SliceSet`.
        cases: the loaded cases (their ``label_values`` and ``label_path``).

    Raises:
        DatasetError: the training part, or every loaded part, has no foreground pixel.
    """
    if not sets or info.lut is None:
        return
    loaded = [c for c in cases.values() if c.label_values is not None]
    found = frozenset().union(*(c.label_values for c in loaded)) if loaded else frozenset()
    empty = [part for part, s in sets.items() if not s.labels.any()]
    if "train" in empty or len(empty) == len(sets):
        where = "train" if "train" in empty else "/".join(sets)
        raise DatasetError(
            f"{info.label_folder}: no {where} mask has any foreground after the class mapping (label values found: "
            f"{_values_text(found)}), so every target would be empty. Remedy: {_remedy(info, found)}."
        )
    for part in empty:
        warnings.warn(f"{info.label_folder}: no {part} mask has any foreground; its metrics only measure empty "
                      "predictions.", stacklevel=3)
    _warn_unused_classes(info, found, len(loaded))
    if info.label_rule == "classes":
        _warn_undeclared(info, loaded)


def _warn_unused_classes(info, found: frozenset, files: int) -> None:
    present = {int(info.lut[v]) for v in found}
    for index, name in enumerate(info.class_names, start=1):
        if index not in present:
            labels = [int(v) for v in np.flatnonzero(info.lut == index)]
            warnings.warn(f"{info.label_folder}: class {name!r} (label values {_values_text(labels)}) occurs in none "
                          f"of the {files} loaded label files (values found: {_values_text(found)}); check "
                          "data.classes.", stacklevel=4)


def _warn_undeclared(info, loaded: List[object]) -> None:
    offending: List[Tuple[Optional[str], List[int]]] = []
    for case in loaded:
        extra = sorted(v for v in case.label_values if v and not info.lut[v])
        if extra:
            offending.append((case.label_path, extra))
    for path, extra in offending[:MAX_FILE_WARNINGS]:
        warnings.warn(f"{path}: label values {_values_text(extra)} are not declared in data.classes; they become "
                      "background.", stacklevel=4)
    if len(offending) > MAX_FILE_WARNINGS:
        warnings.warn(f"{info.label_folder}: {len(offending) - MAX_FILE_WARNINGS} more label files hold values not "
                      "declared in data.classes.", stacklevel=4)
