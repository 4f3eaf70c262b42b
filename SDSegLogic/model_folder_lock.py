"""One writer per model folder at a time, and the staging folders of killed writers removed.

:func:`SDSegLogic.model_folder.save_model_folder` (used by the official-checkpoint import, the
training export and the fast-decoder distillation) writes a model into a staging folder
``<parent>/.<name>.staging-<8 characters>`` (``tempfile.mkdtemp``) and renames it to ``<parent>/<name>`` when
complete. A writer that is killed (a signal, the host out of memory, a closed terminal) leaves that
hidden folder, as large as the model, for ever.

The rule is the model cache's (:mod:`SDSegLogic.model_cache_lock`): while it writes, a writer holds
an exclusive ``flock`` on ``<parent>/.<name>.write-lock`` (the system drops it when the process
dies; the holder removes the file before it lets go), so once a writer holds it no other writer
of that folder is writing, and the staging folders of that folder are debris: they are removed.
Only real folders with exactly the staging name of this folder are touched (never a link, never
another folder's). Where files cannot be locked (some network shares, Windows) nothing is removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Iterator, List

__all__ = ["folder_write_lock", "remove_stale_staging", "staging_prefix"]

LOG = logging.getLogger(__name__)


def staging_prefix(folder: Path) -> str:
    """The name prefix of ``folder``'s staging folders: ``.<name>.staging-`` (``tempfile.mkdtemp`` adds 8 characters).

    The word ``staging`` keeps other hidden siblings (a user's ``.<name>.settings``) out of what is removed.
    """
    return f".{Path(folder).name}.staging-"


def _staging_pattern(folder: Path) -> "re.Pattern[str]":
    """The names ``tempfile.mkdtemp(prefix=staging_prefix(folder))`` gives: 8 of ``[a-z0-9_]`` after the prefix."""
    return re.compile(re.escape(staging_prefix(folder)) + r"[a-z0-9_]{8}")


def remove_stale_staging(folder: Path) -> List[Path]:
    """Remove the staging folders of ``folder`` (call only while holding :func:`folder_write_lock`).

    Args:
        folder: the model folder ``<parent>/<name>``.

    Returns:
        The staging folders removed.
    """
    pattern = _staging_pattern(folder)
    removed: List[Path] = []
    try:
        entries = sorted(folder.parent.iterdir())
    except OSError:  # unreadable or missing parent: nothing of ours to remove
        return removed
    for entry in entries:
        if pattern.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    if removed:
        LOG.info("removed %d staging folder(s) left beside %s by writers that did not finish", len(removed), folder)
    return removed


@contextlib.contextmanager
def folder_write_lock(folder: Path) -> Iterator[bool]:
    """Hold the write lock of the model ``folder``; the staging folders of killed writers are removed first.

    Another writer of the same folder waits (no time limit) until this one is done.

    Args:
        folder: the model folder ``<parent>/<name>`` (``<parent>`` is created).

    Yields:
        True while the lock is held; False where files cannot be locked (nothing was removed).
    """
    from .model_cache_lock import NO_LOCKING, lock_model_file

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    if os.name == "nt":  # pragma: no cover - no flock: a live writer's staging cannot be told from a dead one's
        yield False
        return
    lock_path = folder.parent / f".{folder.name}.write-lock"
    try:
        fd = lock_model_file(lock_path, folder.name, folder.parent, on_wait=None)
    except OSError as exc:
        if exc.errno not in NO_LOCKING:
            raise
        with contextlib.suppress(OSError):
            os.unlink(lock_path)  # nobody can hold a lock here
        yield False
        return
    try:
        remove_stale_staging(folder)
        yield True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)  # while still held: a waiter that then gets this file's lock retries on a new file
        os.close(fd)
