"""The partial files of AOT package builds: each one locked while its build lives, dead builds' ones deleted.

A build (:func:`SDSegLogic.compiled._build_package`) writes its package to a hidden
``.<name>.<random>.partial.pt2`` file next to the cache entry and renames it into place when done.
A build that is killed (a signal, the host out of memory, a closed terminal) never renames or
deletes its file: tens or hundreds of megabytes, hidden, for ever. So a build holds an exclusive
``flock`` on its partial file for as long as it runs (the operating system drops it when the process
dies), and every build first deletes the partial files nobody holds that are older than
:data:`STALE_PARTIAL_S`. The age also covers the instant between creating a file and locking it.
Where files cannot be locked (no ``fcntl``), only files older than :data:`STALE_UNLOCKABLE_S` go.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Tuple

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["PARTIAL_SUFFIX", "STALE_PARTIAL_S", "STALE_UNLOCKABLE_S", "open_partial", "remove_stale_partials"]

LOG = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial.pt2"
STALE_PARTIAL_S = 60.0
"""A partial file that no live build holds is deleted once it is this old (seconds since its last change)."""
STALE_UNLOCKABLE_S = 7 * 24 * 3600.0
"""Without file locks, a partial file is deleted only once it is this old: no build runs for a week."""


def open_partial(target: Path) -> Tuple[int, str]:
    """Create the partial file of a build of ``target`` and lock it; returns (descriptor, path).

    The caller closes the descriptor once the file was renamed to ``target`` or deleted: the lock
    goes with it (or with the process, however it ends).
    """
    fd, path = tempfile.mkstemp(prefix="." + target.stem + ".", suffix=PARTIAL_SUFFIX, dir=str(target.parent))
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else can hold it
        except OSError:  # a file system without locks: the age rule alone protects it
            pass
    return fd, path


def _held(path: Path) -> bool:
    """Whether a live build holds ``path`` (True also when that cannot be told: the file is kept)."""
    if fcntl is None:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:  # no locks on this file system: only the age can tell
        return time.time() - os.fstat(fd).st_mtime < STALE_UNLOCKABLE_S
    finally:
        os.close(fd)


def remove_stale_partials(folder: Path, now: Optional[float] = None) -> List[Path]:
    """Delete the partial files in ``folder`` that belong to no live build; returns those deleted.

    Args:
        folder: a package cache folder.
        now: the current time (``time.time()`` by default).
    """
    now = time.time() if now is None else now
    removed: List[Path] = []
    for path in sorted(folder.glob("." + "*" + PARTIAL_SUFFIX)):
        try:
            age = now - path.stat().st_mtime
        except OSError:  # renamed or deleted meanwhile
            continue
        if age < (STALE_PARTIAL_S if fcntl is not None else STALE_UNLOCKABLE_S) or _held(path):
            continue
        try:
            path.unlink()
        except OSError as exc:
            LOG.warning("cannot delete %s, left by a compile that did not finish (%s); delete it by hand", path, exc)
            continue
        removed.append(path)
    if removed:
        LOG.info("deleted %d partial package file(s) left in %s by compiles that did not finish", len(removed), folder)
    return removed
