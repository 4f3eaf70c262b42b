"""Which copy of a model id :func:`SDSegLogic.registry.resolve_model` loads when several are installed.

An id without a version resolves to the newest copy (cache or bundled) that holds a model's files:
``config.json``, ``model_card.json`` and at least one ``*.safetensors``. A newer copy without them
(an import or a copy interrupted, weights not checked out) is skipped with a warning that names it
and the remedy, instead of being chosen and failing to load. An explicit ``<id>@<version>`` is never
replaced by another version (its copies, cache and bundled, are all of that version): when none of them
is usable, the newest is returned and loading it reports what is missing.

Standard library only (no torch, no SimpleITK), as :mod:`SDSegLogic.registry`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, List, Sequence, Tuple

__all__ = ["missing_model_files", "pick_copy"]

Option = Tuple[Any, int, Any]
"""(version key, tie-break: 1 for the cache, 0 for bundled, ResolvedModel)."""


def missing_model_files(folder: Path) -> List[str]:
    """What ``folder`` lacks to be a model folder (cheap: no hashing, no parsing).

    Args:
        folder: a model folder candidate.

    Returns:
        Phrases such as ``"config.json"`` or ``"*.safetensors weights"``; empty when all are there.
        A folder that cannot be read gives ``["readable files (<error>)"]``.
    """
    try:
        missing = [name for name in ("config.json", "model_card.json") if not (folder / name).is_file()]
        if not any(folder.glob("*.safetensors")):
            missing.append("*.safetensors weights")
    except OSError as exc:
        return [f"readable files ({exc.strerror or exc})"]
    return missing


def pick_copy(options: Sequence[Option]) -> Any:
    """The copy to load among ``options`` (not empty).

    Args:
        options: every installed copy that matches the spec (for ``<id>@<version>``: copies of that version).

    Returns:
        The newest usable copy (the cache wins a tie); when none is usable, the newest copy, whose
        load then reports what is missing. Each unusable copy newer than the one returned is warned
        about (``UserWarning``), naming its folder, what it lacks and the remedy.
    """
    ranked = sorted(options, key=lambda o: (o[0], o[1]), reverse=True)
    skipped = []
    for _key, _tie, resolved in ranked:
        missing = missing_model_files(Path(resolved.folder))
        if not missing:
            for other, lacks in skipped:
                warnings.warn(
                    f"model {other.model_id!r} version {other.version} in {other.folder} is not usable (no "
                    f"{', '.join(lacks)}): version {resolved.version} ({resolved.folder}) is used instead. Remove that "
                    f"folder, or import version {other.version} again with 'sdseg models import <file.zip>'.",
                    UserWarning, stacklevel=3)
            return resolved
        skipped.append((resolved, missing))
    return ranked[0][2]
