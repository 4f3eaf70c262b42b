"""The names of staging folders, and the removal of those a killed writer left.

Every writer of a model folder writes into a hidden staging folder first and renames it into place
when complete: the model-folder writer (``<parent>/.<name>.staging-<8>``,
:mod:`SDSegLogic.model_folder_lock`), the training export (``<parent>/.<name>.export-<8>``) and the
zip import (``<home>/<id>/.import-<8>``, :mod:`SDSegLogic.model_cache_lock`). ``<8>`` are the 8
characters ``tempfile.mkdtemp`` adds (``a-z 0-9 _``). A writer that is killed leaves its staging
folder, as large as the model, for ever; the next writer of the same folder removes it, under the
lock that proves no other writer of that folder runs (the callers hold it).

One rule makes and recognises these names: a name is a staging name only when it is exactly a
prefix of this module followed by the random part, so a user's hidden sibling (``.<name>.settings``,
``.<name>.export-notes``) is never taken for one; only real folders are removed, never through a
symbolic link.

Standard library only.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, List

__all__ = ["EXPORT", "STAGING", "RANDOM_PART", "is_staging_name", "make_staging", "remove_staging", "sibling_prefix"]

LOG = logging.getLogger(__name__)

STAGING = "staging"
"""Purpose word of the model-folder writer's staging folders (``SDSegLogic.model_folder``)."""
EXPORT = "export"
"""Purpose word of the training export's staging folders (``sdseg_training.export``)."""
RANDOM_PART = r"[a-z0-9_]{8}"
"""What ``tempfile.mkdtemp`` adds after the prefix (its names are 8 of ``a-z 0-9 _``)."""


def sibling_prefix(folder: Path, purpose: str) -> str:
    """``.<name>.<purpose>-``: the name prefix of the staging folders beside ``folder`` for ``purpose``.

    The purpose word (:data:`STAGING`, :data:`EXPORT`) keeps a user's hidden siblings (``.<name>.settings``)
    out of what is removed.
    """
    return f".{Path(folder).name}.{purpose}-"


def make_staging(parent: Path, prefix: str) -> Path:
    """Create a new, empty staging folder ``<parent>/<prefix><8 characters>`` (mode 0700) and return it."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def is_staging_name(name: str, prefixes: Iterable[str], random_part: str = RANDOM_PART) -> bool:
    """Whether ``name`` is exactly one of ``prefixes`` followed by ``random_part`` (a regular expression)."""
    return any(re.fullmatch(re.escape(prefix) + random_part, name) for prefix in prefixes)


def remove_staging(parent: Path, prefixes: Iterable[str], random_part: str = RANDOM_PART) -> List[Path]:
    """Remove the staging folders in ``parent`` named by ``prefixes`` (call only under the writers' lock).

    Args:
        parent: the folder that holds the staging folders.
        prefixes: the name prefixes of the staging folders of one destination (see :func:`is_staging_name`).
        random_part: the regular expression of what follows the prefix.

    Returns:
        The staging folders removed (a link with a staging name is left alone, as are files).
    """
    prefixes = tuple(prefixes)
    removed: List[Path] = []
    try:
        entries = sorted(Path(parent).iterdir())
    except OSError:  # unreadable or missing: nothing of ours to remove
        return removed
    for entry in entries:
        if is_staging_name(entry.name, prefixes, random_part) and entry.is_dir() and not os.path.islink(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    if removed:
        LOG.info("removed %d staging folder(s) in %s left by writers that did not finish", len(removed), parent)
    return removed
