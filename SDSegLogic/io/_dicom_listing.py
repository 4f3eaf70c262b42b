"""The last few DICOM folder listings, kept so that listing a folder and then reading it scans its headers once.

Listing the series of a folder (:func:`~SDSegLogic.io._dicom.list_series`: GDCM's series listing plus one header
read per file) is repeated by a later step on the same folder: ``sdseg segment`` reads the series, then lists it
again for the DICOM SEG's source instances; ``sdseg score`` lists every case folder of a test set to see it is
one series, then reads each. The most recently used listings (at most :data:`MAX_LISTINGS`, naming at most
:data:`MAX_FILES` files together) are kept here with their folder's fingerprint (every entry's name, size and
modification time) and reused while the fingerprint is unchanged; any added, removed or rewritten file lists the
folder anew.
As git does for its index, a folder with an entry modified within :data:`SETTLED_S` seconds of the listing is not
kept: a file rewritten at the same size within the file system's timestamp granularity would look unchanged.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Callable, Optional, Tuple, TypeVar

__all__ = ["remembered_listing"]

T = TypeVar("T")

#: seconds an entry's modification time must lie before the listing for the listing to be kept
SETTLED_S = 2.0

#: the most listings kept, and the most files they may name together (a listing keeps about 0.5 to 2 KB of header
#: tags and paths per file: 10 000 files, some 5 to 20 MB; the newest listing is kept whatever its size, as before)
MAX_LISTINGS = 32
MAX_FILES = 10_000

#: ``((fingerprint, listing, file count), ...)``, most recently used first; replaced as one tuple, never changed
#: in place, so that threads (the engine's jobs) never see one folder's fingerprint with another's listing
_KEPT: Tuple = ()


def _fingerprint(folder: Path) -> Optional[Tuple]:
    """``(folder as given, resolved, sorted (name, size, mtime_ns) of its entries)``, or ``None`` when unlistable.

    The folder as given is part of the key because the listing names its files under it.
    """
    try:
        entries = []
        with os.scandir(folder) as found:
            for entry in found:
                stat = entry.stat()
                entries.append((entry.name, int(stat.st_size), int(stat.st_mtime_ns)))
        return str(folder), str(Path(folder).resolve()), tuple(sorted(entries))
    except OSError:
        return None


def remembered_listing(folder: Path, scan: Callable[[], T]) -> T:
    """``scan()``, or a copy of what it gave for the same unchanged ``folder`` before (among the listings kept).

    Args:
        folder: the folder ``scan`` lists (its entries make the key).
        scan: lists the folder; what it returns is kept (a copy is handed out, so callers may change theirs).
            An exception is passed on and nothing is kept.
    """
    global _KEPT
    key = _fingerprint(folder)
    kept = _KEPT
    found = next((entry for entry in kept if entry[0] == key), None) if key is not None else None
    if found is not None:
        _KEPT = (found,) + tuple(entry for entry in kept if entry is not found)  # now the most recently used
        return copy.deepcopy(found[1])
    started = time.time_ns()
    value = scan()
    settled = key is not None and all(mtime < started - SETTLED_S * 1e9 for _, _, mtime in key[2])
    if settled and key == _fingerprint(folder):  # unchanged while it was listed, and not just written
        _keep((key, copy.deepcopy(value), len(key[2])))
    return value


def _keep(entry: Tuple) -> None:
    """Put ``entry`` first among the listings kept, dropping the least recently used beyond the bounds and any
    older listing of the same folder (it changed since)."""
    global _KEPT
    kept, files = [entry], entry[2]
    for other in _KEPT:
        if other[0][:2] == entry[0][:2]:
            continue
        if len(kept) >= MAX_LISTINGS or files + other[2] > MAX_FILES:
            break
        kept.append(other)
        files += other[2]
    _KEPT = tuple(kept)
