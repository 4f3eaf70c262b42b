"""Flush written files and folder entries to the disk before (and after) an atomic rename.

A temporary file renamed over its destination is atomic for the processes that read it, but not
after a power loss: on some file systems (ext4 with ``data=writeback``, XFS, btrfs) the rename can
reach the disk before the data, leaving an empty or truncated file under the final name. So the
data is flushed (``fsync``) before the rename, and the folder that holds the new name after it.
Used by the engine's outputs (:mod:`SDSegLogic.io.atomic`) and the training package's checkpoints.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["flush_to_disk", "flush_tree_to_disk"]

#: POSIX flushes a file opened for reading (so a read-only file too); Windows needs write access
_FILE_FLAGS = os.O_RDWR if os.name == "nt" else os.O_RDONLY


def flush_to_disk(path: Path) -> None:
    """``fsync`` a file, or a folder's entries (renames and new names in it).

    Args:
        path: a file (an error flushing it raises ``OSError``, as a failed write) or a folder (skipped
            where the OS cannot open one, as on Windows, or the file system refuses it, ``EINVAL``).
    """
    path = Path(path)
    folder = path.is_dir()
    try:
        fd = os.open(path, (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if folder else _FILE_FLAGS)
    except OSError:
        if folder:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not folder:
            raise
    finally:
        os.close(fd)


def flush_tree_to_disk(root: Path) -> None:
    """``fsync`` every file under ``root``, then every folder, deepest first, ``root`` last."""
    root = Path(root)
    for path in sorted(root.rglob("*"), key=lambda p: (p.is_dir(), -len(p.parts))):
        flush_to_disk(path)
    flush_to_disk(root)
