"""Split files: sorted, seeded, written once as JSON and reused (never re-drawn silently)."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..errors import DatasetError

__all__ = ["make_split", "write_json_atomic", "load_or_create_split"]

SPLIT_FORMAT = "sdseg-split"


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON through a temporary sibling and an atomic rename (``SDSegLogic.io.atomic.atomic_output``).

    The file follows the umask like any other output (a run's records are for colleagues to read too).
    """
    from SDSegLogic.io.atomic import atomic_output

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _draw(ids: List[str], fraction: float, rng: np.random.Generator) -> List[str]:
    if not ids or fraction <= 0:
        return []
    count = min(len(ids) - 1, max(1, int(round(fraction * len(ids)))))
    chosen = rng.choice(len(ids), size=count, replace=False)
    return sorted((ids[i] for i in chosen), key=ids.index)


def make_split(case_ids: List[str], default: Optional[Dict[str, List[str]]], val_fraction: float,
               test_fraction: float, seed: int = 0, test_cases: Optional[List[str]] = None) -> Dict[str, List[str]]:
    """Train / val / test case ids.

    Order of precedence: explicit ``test_cases``, then the dataset's own split, then a seeded draw
    from the sorted ids. Validation is always drawn from the non-test cases.
    """
    ids = list(case_ids)
    rng = np.random.default_rng(seed)
    default = default or {}
    if test_cases:
        unknown = sorted(set(test_cases) - set(ids))
        if unknown:
            raise DatasetError(f"data.test_cases {unknown} are not cases of this dataset.")
        test = [c for c in ids if c in set(test_cases)]
    elif "test" in default:
        test = list(default["test"])
    else:
        test = _draw(ids, test_fraction, rng)
    rest = [c for c in ids if c not in set(test)]
    if "val" in default and not test_cases:
        val = [c for c in default["val"] if c in rest]
    else:
        val = _draw(rest, val_fraction, rng)
    train = [c for c in (default.get("train") or rest) if c in rest and c not in set(val)]
    if not train:
        raise DatasetError("the split leaves no training cases; lower data.val_fraction / data.test_fraction.")
    return {"train": train, "val": val, "test": test}


def load_or_create_split(path: Path, case_ids: List[str], kind: str, extra: Optional[dict] = None, **kwargs) -> Dict[str, List[str]]:
    """Read ``path`` if it exists (checking its ids), else draw a split and write it (with ``extra`` info).

    An existing file is checked: every part a list of case ids of this data, no id in two parts (or twice
    in one), the test part equal to ``test_cases`` when they are given; data cases the file lists in no
    part are reported (a warning: they are not used).

    Raises:
        DatasetError: a file that is not a valid split of these cases, or contradicts ``test_cases``.
    """
    path = Path(path)
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: not valid JSON ({exc}); delete it to draw a new split.") from None
        if not isinstance(data, dict) or data.get("format") != SPLIT_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise DatasetError(f"{path}: not an SDSeg split file (format {found!r}).")
        split = _checked_parts(path, data, case_ids)
        _check_test_cases(path, split["test"], kwargs.get("test_cases"))
        _warn_unlisted(path, split, case_ids)
        return split
    split = make_split(case_ids, **kwargs)
    write_json_atomic(path, {"format": SPLIT_FORMAT, "version": 1, "kind": kind, **split, **(extra or {})})
    return split


def _checked_parts(path: Path, data: dict, case_ids: List[str]) -> Dict[str, List[str]]:
    """The train / val / test lists of a split file, refusing malformed parts and any case listed twice."""
    parts: Dict[str, List[str]] = {}
    for part in ("train", "val", "test"):
        ids = data.get(part)
        if not isinstance(ids, list) or not all(isinstance(c, str) for c in ids):
            raise DatasetError(f"{path}: {part!r} must be a list of case ids (strings), found {ids!r}; a split file "
                               "holds \"train\", \"val\" and \"test\" lists (an empty list is allowed). Fix it, or "
                               "delete it to draw a new split.")
        parts[part] = list(ids)
    unknown = sorted({c for ids in parts.values() for c in ids} - set(case_ids))
    if unknown:
        raise DatasetError(f"{path}: lists cases not found in the data: {unknown[:5]}; fix data.root or delete the split file.")
    overlap = set(parts["test"]) & (set(parts["train"]) | set(parts["val"]))
    if overlap:
        raise DatasetError(f"{path}: test cases {sorted(overlap)[:5]} also appear in train/val; the test set must stay unseen.")
    both = sorted(set(parts["train"]) & set(parts["val"]))
    if both:
        raise DatasetError(f"{path}: cases {both[:5]} are in both train and val, so validation (and the choice of the "
                           "best checkpoint) would score cases the model trained on; list each case in one part only.")
    for part, ids in parts.items():
        repeated = sorted(c for c, n in Counter(ids).items() if n > 1)
        if repeated:
            raise DatasetError(f"{path}: {part} lists cases {repeated[:5]} more than once; list each case once.")
    return parts


def _check_test_cases(path: Path, test: List[str], test_cases: Optional[List[str]]) -> None:
    """Refuse a split file whose test part is not the ``data.test_cases`` the config asks for."""
    if test_cases and set(test_cases) != set(test):
        raise DatasetError(
            f"{path}: its test cases {sorted(test)[:5]}{' ...' if len(test) > 5 else ''} are not data.test_cases "
            f"{sorted(test_cases)[:5]}{' ...' if len(test_cases) > 5 else ''}; the split file is reused as it is, so "
            "data.test_cases would not be held out. Delete the split file (or set another train.output_dir) to draw a split "
            "with these test cases, or remove data.test_cases to keep the file's split."
        )


def _warn_unlisted(path: Path, split: Dict[str, List[str]], case_ids: List[str]) -> None:
    """Warn about cases of the data in no part of the split file (added after it was drawn): they are unused."""
    listed = {c for ids in split.values() for c in ids}
    unlisted = [c for c in case_ids if c not in listed]
    if unlisted:
        warnings.warn(f"{path}: {len(unlisted)} case(s) of the data are in none of its parts and are not used: "
                      f"{unlisted[:5]}{' ...' if len(unlisted) > 5 else ''} (added after the split was drawn?). Add them "
                      "to its train/val lists, or delete the file to draw a new split of all cases (a new test set).",
                      stacklevel=3)
