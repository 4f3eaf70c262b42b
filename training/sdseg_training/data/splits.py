"""Split files: sorted, seeded, written once as JSON and reused (never re-drawn silently)."""

from __future__ import annotations

import json
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
    """Read ``path`` if it exists (checking its ids), else draw a split and write it (with ``extra`` info)."""
    path = Path(path)
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: not valid JSON ({exc}); delete it to draw a new split.") from None
        if data.get("format") != SPLIT_FORMAT:
            raise DatasetError(f"{path}: not an SDSeg split file (format {data.get('format')!r}).")
        unknown = sorted({c for part in ("train", "val", "test") for c in data.get(part, [])} - set(case_ids))
        if unknown:
            raise DatasetError(f"{path}: lists cases not found in the data: {unknown[:5]}; fix data.root or delete the split file.")
        overlap = set(data["test"]) & (set(data["train"]) | set(data["val"]))
        if overlap:
            raise DatasetError(f"{path}: test cases {sorted(overlap)[:5]} also appear in train/val; the test set must stay unseen.")
        return {part: list(data[part]) for part in ("train", "val", "test")}
    split = make_split(case_ids, **kwargs)
    write_json_atomic(path, {"format": SPLIT_FORMAT, "version": 1, "kind": kind, **split, **(extra or {})})
    return split
