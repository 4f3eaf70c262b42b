"""Command-line ``section.key=value`` overrides of a training config (used by :mod:`sdseg_training.config`).

A value is parsed as YAML (``train.max_steps=200``, ``data.window=[-125,275]``). A key that holds a
mapping (``model.architecture``) may also be set one entry at a time with a longer path,
``model.architecture.autoencoder.latent_channels=8``; the entry is merged into the mapping the file
gives. Any other nested path (``data.classes.0.name=x``), a value that is not valid YAML, or a
section that the file gives as something other than a mapping is refused with a message naming the
override, the file and the remedy.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Sequence

from .errors import TrainingConfigError

__all__ = ["apply_overrides", "override_keys"]


def override_keys(overrides: Sequence[str]) -> List[str]:
    """The ``section.key`` each override sets (a nested path counts as its key), for messages."""
    return [".".join(item.split("=", 1)[0].split(".")[:2]) for item in overrides]


def apply_overrides(data: Dict[str, Any], overrides: Sequence[str], source: str = "config",
                    mapping_keys: Iterable[str] = ()) -> Dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML) to a config mapping.

    Args:
        data: the mapping read from YAML (changed in place and returned).
        overrides: e.g. ``["train.max_steps=200", "data.window=[-125,275]"]``.
        source: the config file, for messages.
        mapping_keys: ``section.key`` names whose value is a mapping, the only ones a longer path may
            reach into (e.g. ``model.architecture``).

    Raises:
        TrainingConfigError: an override not of the form ``section.key=value``, a value that is not
            valid YAML, a nested path into a key that is not a mapping, or a section (or nested
            entry) of the file that is not a mapping.
    """
    import yaml

    nested_ok = set(mapping_keys)
    if overrides and not isinstance(data, dict):
        raise TrainingConfigError(f"{source}: expected a mapping of sections at the top level, got {type(data).__name__}; "
                                  "start from a file in training/configs/.")
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise TrainingConfigError(
                f"override {item!r} is not of the form section.key=value (e.g. train.max_steps=100)."
            )
        key, raw = item.split("=", 1)
        path = key.split(".")
        if "" in path:
            raise TrainingConfigError(f"override {item!r}: the key {key!r} has an empty part; write section.key=value "
                                      "(e.g. train.max_steps=100).")
        if len(path) > 2 and ".".join(path[:2]) not in nested_ok:
            top = ".".join(path[:2])
            example = "'data.classes=[{name: liver, labels: [6]}]'" if top == "data.classes" else f"{top}=VALUE"
            raise TrainingConfigError(
                f"override {item!r}: {top} is not a mapping, so {key} cannot be set on its own; give the whole value, "
                f"e.g. {example}. Only {', '.join(sorted(nested_ok)) or 'no key'} can be set one entry at a time.")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            problem = " ".join(str(getattr(exc, "problem", "") or exc).split())
            raise TrainingConfigError(
                f"override {item!r}: the value {raw!r} is not valid YAML ({problem}). Close its brackets and quotes "
                f"(e.g. {key}=[1, 2]), or quote a string inside the argument: '{key}=\"{raw}\"' (the outer quotes are "
                "for the shell).") from None
        _set(data, path, value, item, source)
    return data


def _set(data: Dict[str, Any], path: List[str], value: Any, item: str, source: str) -> None:
    """``data[path[0]]...[path[-1]] = value``, creating missing mappings, refusing to replace a non-mapping."""
    node = data
    for depth, part in enumerate(path[:-1]):
        if node.get(part) is None:
            node[part] = {}
        if not isinstance(node[part], dict):
            where = ".".join(path[:depth + 1])
            raise TrainingConfigError(
                f"{source}: {where} is {node[part]!r}, not a mapping, so override {item!r} cannot set a key in it. "
                f"Write {where} in the file as a mapping of keys to values (or remove it), then override again.")
        node = node[part]
    node[path[-1]] = value
