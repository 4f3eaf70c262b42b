"""Datasets: sources (file layouts), preprocessing, splits and the in-memory slice sets."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

from .labels import check_loaded
from .slices import Case, EpochBatchSampler, SliceSet, TrainSlices, collate
from .sources import DatasetInfo, discover
from .splits import load_or_create_split

__all__ = ["load_data", "DatasetInfo", "SliceSet", "TrainSlices", "EpochBatchSampler", "collate", "Case"]


def load_data(cfg, output_dir: Path, parts=("train", "val")) -> Tuple[DatasetInfo, Dict[str, list], Dict[str, SliceSet]]:
    """Discover a dataset, fix its split (``data.split_file`` or ``<output_dir>/split.json``) and load ``parts``.

    Args:
        cfg: a :class:`~sdseg_training.config.DataSection`.
        output_dir: the run folder.
        parts: which of train / val / test to load into memory.

    Returns:
        (info, split, {part: SliceSet}); an empty part is left out.

    Raises:
        DatasetError: layout or label problems, e.g. every training target empty after the class mapping
            (see :func:`~.labels.check_loaded`).
    """
    info = discover(cfg)
    split_path = Path(cfg.split_file) if cfg.split_file else Path(output_dir) / "split.json"
    split = load_or_create_split(
        split_path, list(info.cases), cfg.kind, extra={"slices": info.slices} if getattr(info, "slices", None) else None, default=info.default_split, val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction, seed=cfg.split_seed, test_cases=cfg.test_cases,
    )
    sets = {}
    for part in parts:
        if split[part]:
            sets[part] = SliceSet.from_cases([info.cases[c] for c in split[part]], len(info.class_names), cfg.cache_rate)
    check_loaded(info, sets, {c: info.cases[c] for part in sets for c in split[part]})
    return info, split, sets
