"""Label values: the class lookup tables, per-file value checks and the checks after loading a split.

A case records the raw label values it held (:attr:`~.slices.Case.label_values`, before the
class mapping) when it is loaded; :func:`check_loaded` then refuses a split whose targets are all
empty and warns about declared classes that never occur and about undeclared label values.

Volume label maps keep their ids exactly, also above 255 (16-bit labels, FreeSurfer-style parcels
1000..2035): ``data.classes`` may list values up to :data:`MAX_LABEL_VALUE`. A lookup table's last
entry stands for every larger value (:func:`map_labels`): 0 for a ``data.classes`` table (an
undeclared id is background), 1 for the binary union of values > 0. 2-D masks stay 8-bit.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DatasetError

__all__ = ["class_lut", "threshold_lut", "map_labels", "class_of", "present_values", "integral_labels", "check_loaded",
           "MASK_THRESHOLD", "MAX_LABEL_VALUE"]

#: Grey masks without ``data.classes`` are foreground where the value is > 127.
MASK_THRESHOLD = 127
#: Float label maps within this distance of an integer are rounded to it; others are refused.
FLOAT_LABEL_TOL = 1e-3
#: The largest label value ``data.classes`` may list (16-bit label maps); files may hold larger ids (undeclared).
MAX_LABEL_VALUE = 65535
#: At most this many per-file warnings about undeclared label values, then one summary.
MAX_FILE_WARNINGS = 20


def class_lut(classes: Sequence[dict], max_value: int = MAX_LABEL_VALUE) -> Tuple[np.ndarray, List[str]]:
    """Lookup table source label value -> class index, and the class names.

    Args:
        classes: ``data.classes`` entries ``{name, labels}``; empty = binary union of values > 0.
        max_value: the largest label value a class may list.

    Returns:
        (lut, names): uint8 (L,) with L >= 256 and L above every listed value, so that its last
        entry (0, or 1 for the union) is the class of every larger value (:func:`map_labels`).

    Raises:
        DatasetError: a label value that is not an integer in 1..max_value.
    """
    if not classes:
        lut = np.zeros(256, np.uint8)
        lut[1:] = 1
        return lut, ["foreground"]
    values = [[_class_value(value, spec, max_value) for value in spec["labels"]] for spec in classes]
    lut = np.zeros(max(256, max(max(v) for v in values) + 2), np.uint8)
    for index, listed in enumerate(values, start=1):
        lut[listed] = index
    return lut, [str(spec["name"]) for spec in classes]


def _class_value(value, spec: dict, max_value: int) -> int:
    ok = isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not ok or not 1 <= int(value) <= max_value:
        raise DatasetError(
            f"data.classes: class {spec.get('name')!r} lists label value {value!r}; label values must be integers in "
            f"1..{max_value} (0 is background). Relabel the files with values 1..{max_value} and list those in "
            "data.classes."
        )
    return int(value)


def map_labels(lut: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Class indices of a raw label map: ``lut[raw]``, values beyond the table taking its last entry.

    Args:
        lut: a :func:`class_lut` / :func:`threshold_lut` table, uint8 (L,).
        raw: non-negative integer label values, any shape and integer type (ids above 255 exact).

    Returns:
        uint8, the shape of ``raw``.
    """
    raw = np.asarray(raw)
    if raw.dtype == np.uint8 or raw.size == 0 or int(raw.max()) < lut.shape[0]:
        return lut[raw]
    return lut[np.minimum(raw, lut.shape[0] - 1)]


def class_of(lut: np.ndarray, value: int) -> int:
    """The class index of one raw label value (as :func:`map_labels`)."""
    return int(lut[min(int(value), lut.shape[0] - 1)])


def threshold_lut(threshold: int = MASK_THRESHOLD) -> np.ndarray:
    """Lookup table of a binary grey mask: values > ``threshold`` are class 1."""
    lut = np.zeros(256, np.uint8)
    lut[threshold + 1:] = 1
    return lut


def present_values(labels: np.ndarray) -> frozenset:
    """The distinct values of a non-negative integer label array (one bincount pass up to 16 bits)."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return frozenset()
    top = int(labels.max())
    if top > MAX_LABEL_VALUE:
        return frozenset(int(v) for v in np.unique(labels))
    counts = np.bincount(labels.ravel() if labels.dtype == np.uint8 else labels.ravel().astype(np.int64), minlength=256)
    return frozenset(int(v) for v in np.flatnonzero(counts))


def integral_labels(array: np.ndarray, path: Path, wide: bool = False) -> np.ndarray:
    """Check a label map holds whole numbers >= 0 (0..255 unless ``wide``) and return them exactly.

    Float maps within :data:`FLOAT_LABEL_TOL` of integers (e.g. 1.999998 from resampling) are rounded.

    Args:
        array: the label map as read, any integer, bool or float type.
        path: the file, for messages.
        wide: keep ids above 255 (volume label maps); False: the 8-bit contract of 2-D masks.

    Returns:
        uint8 when every value is <= 255, else (``wide``) the smallest unsigned type holding them.

    Raises:
        DatasetError: non-finite or non-integral float values, negative values, values above 255
            (unless ``wide``), or float values too large for the float type to keep apart (named).
    """
    if array.dtype.kind == "f":
        rounded = np.rint(array)
        off = ~(np.abs(array - rounded) <= FLOAT_LABEL_TOL)  # also catches NaN
        if off.any():
            bad = np.unique(array[off])[:8].tolist()
            raise DatasetError(f"{path}: label map holds non-integral values {bad}; a label map must hold whole class "
                               "numbers. Re-save it with an integer voxel type (resample labels by nearest neighbour).")
        exact = 2 ** (np.finfo(array.dtype).nmant + 1)  # float32: 16777216; above it neighbouring ids merge
        if rounded.size and rounded.max() >= exact:
            bad = np.unique(rounded[rounded >= exact])[:8].astype(np.int64).tolist()
            raise DatasetError(f"{path}: label values {bad} in a {array.dtype} label map lie at or above {exact}, where "
                               f"{array.dtype} cannot keep neighbouring ids apart. Re-save the labels with an integer "
                               "voxel type.")
        array = rounded
    elif array.dtype.kind not in "uib":
        raise DatasetError(f"{path}: label voxel type {array.dtype} is not supported; save integer labels.")
    low, high = array.min(initial=0), array.max(initial=0)
    if wide and low < 0:
        bad = np.unique(array[array < 0])[:8].tolist()
        raise DatasetError(f"{path}: label values {[int(v) for v in bad]} are negative; a label map holds 0 (background) "
                           "and positive ids. Renumber the labels to 0 and up and list those values in data.classes.")
    if not wide and (low < 0 or high > 255):
        bad = np.unique(array[(array < 0) | (array > 255)])[:8].tolist()
        raise DatasetError(f"{path}: label values {[int(v) for v in bad]} are outside 0..255; labels are read as 8-bit. "
                           "Renumber the labels to 1..255 and list those values in data.classes.")
    return array.astype(np.uint8 if high <= 255 else np.min_scalar_type(int(high)))


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
    if "train" in sets:
        _warn_untrained_classes(info, sets["train"].labels, found)
    if info.label_rule == "threshold":
        _warn_faint_masks(loaded)
    if info.label_rule == "classes" or getattr(info, "known_labels", None):
        _warn_undeclared(info, loaded)


def _warn_unused_classes(info, found: frozenset, files: int) -> None:
    present = {class_of(info.lut, v) for v in found}
    for index, name in enumerate(info.class_names, start=1):
        if index not in present:
            labels = [int(v) for v in np.flatnonzero(info.lut == index)]
            warnings.warn(f"{info.label_folder}: class {name!r} (label values {_values_text(labels)}) occurs in none "
                          f"of the {files} loaded label files (values found: {_values_text(found)}); check "
                          "data.classes.", stacklevel=4)


def _warn_faint_masks(loaded: List[object]) -> None:
    """One warning per grey mask that marks pixels, all at or below the threshold (a 0/1 mask read as empty)."""
    faint = [(c.label_path, sorted(c.label_values)) for c in loaded
             if c.label_values and max(c.label_values) and max(c.label_values) <= MASK_THRESHOLD]
    for path, values in faint[:MAX_FILE_WARNINGS]:
        warnings.warn(f"{path}: the mask marks pixels with {_values_text(v for v in values if v)} but none above "
                      f"{MASK_THRESHOLD}, so it is read as empty (grey masks are thresholded at > {MASK_THRESHOLD}). "
                      "If it is a 0/1 mask, save it as 0/255 like the others (or declare data.classes for "
                      "label values).", stacklevel=4)
    if len(faint) > MAX_FILE_WARNINGS:
        warnings.warn(f"{len(faint) - MAX_FILE_WARNINGS} more masks mark pixels only at or below {MASK_THRESHOLD}.",
                      stacklevel=4)


def _warn_untrained_classes(info, train_labels: np.ndarray, found: frozenset) -> None:
    """Name each class that some loaded file holds but no training slice does (after mapping, crop and resize).

    Args:
        train_labels: uint8 (N, S, S) class indices of the training slices.
        found: raw label values of every loaded file (classes absent from all are named by _warn_unused_classes).
    """
    loaded = {class_of(info.lut, v) for v in found}
    trained = set(np.unique(train_labels).tolist())
    for index, name in enumerate(info.class_names, start=1):
        if index in loaded and index not in trained:
            warnings.warn(f"{info.label_folder}: class {name!r} has no pixel in any training slice (it occurs only in "
                          "the validation or test cases, or vanishes when the slices are resized to data.size), so the "
                          "network never learns it; move cases that hold it into training (data.split_file) or "
                          "remove it from data.classes.", stacklevel=4)


def _warn_undeclared(info, loaded: List[object]) -> None:
    """One warning per label file holding values that become background, other than the kind's known ids."""
    known = frozenset(getattr(info, "known_labels", None) or ())
    offending: List[Tuple[Optional[str], List[int]]] = []
    for case in loaded:
        extra = sorted(v for v in case.label_values if v and v not in known and not class_of(info.lut, v))
        if extra:
            offending.append((case.label_path, extra))
    if info.label_rule == "classes":
        what, remedy = "not declared in data.classes", "list them in data.classes to keep them"
    else:
        what = f"none of the label ids this dataset defines ({_values_text(known)})"
        remedy = "check that the label files belong to this dataset (data.kind) or declare data.classes"
    for path, extra in offending[:MAX_FILE_WARNINGS]:
        warnings.warn(f"{path}: label values {_values_text(extra)} are {what}; they become background ({remedy}).",
                      stacklevel=4)
    if len(offending) > MAX_FILE_WARNINGS:
        warnings.warn(f"{info.label_folder}: {len(offending) - MAX_FILE_WARNINGS} more label files hold values "
                      f"{what}.", stacklevel=4)
