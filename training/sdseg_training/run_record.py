"""The run folder's record of its configuration (``config.resolved.json``) across resumed invocations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

from .data.splits import write_json_atomic

__all__ = ["RECORD_NAME", "record_resolved_config", "resumed_config_path"]

RECORD_NAME = "config.resolved.json"


def _flatten(tree: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _resolve_image_resize(flat: Dict[str, Any]) -> None:
    """``data.image_resize`` null (a record written before the trainer resolved it) as the kind's mode."""
    from .data.image_resize import image_resize_of

    if "data.image_resize" in flat and flat["data.image_resize"] is None:
        flat["data.image_resize"] = image_resize_of({"kind": flat.get("data.kind")}, "the run record")


def _fill_later_keys(before: Dict[str, Any], now: Dict[str, Any]) -> None:
    """Keys added to the configuration after a record was written count as their defaults there.

    A run begun before ``data.refuge2_val_as_validation`` existed ran as its default says (false); a resume
    that leaves it so changed nothing.
    """
    from .config import TrainConfig

    defaults = _flatten(json.loads(json.dumps(TrainConfig().to_dict())))
    for key in set(now) - set(before):
        if key in defaults:
            before[key] = defaults[key]


def resumed_config_path(out: Path, step: int) -> Path:
    """Where a resumed invocation with changed settings records them."""
    return out / f"config.resumed-at-step-{step:08d}.json"


def record_resolved_config(out: Path, config: Dict[str, Any], step: int) -> list:
    """Keep the record of how a run began across resumed invocations.

    A run starting at step 0 (or without a record) writes ``config.resolved.json``. A resumed
    invocation keeps that file, since it holds what a resume cannot recover (the warm starts, for
    one), and writes its own settings to :func:`resumed_config_path` when they differ.

    Args:
        out: the run folder (``train.output_dir``).
        config: this invocation's resolved configuration (``TrainConfig.to_dict()``).
        step: the optimizer step this invocation starts at.

    Returns:
        The differing keys as ``"section.key"`` (empty for a fresh run or an unchanged resume).
    """
    record = out / RECORD_NAME
    if step == 0 or not record.is_file():
        write_json_atomic(record, config)
        return []
    before, now = _flatten(json.loads(record.read_text())), _flatten(json.loads(json.dumps(config)))
    _resolve_image_resize(before)
    _resolve_image_resize(now)
    _fill_later_keys(before, now)
    changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    if changed:
        write_json_atomic(resumed_config_path(out, step), config)
    return changed
