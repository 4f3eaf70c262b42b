"""The last DICOM folder listing, kept so that listing a folder and then reading it scans its headers once.

Listing the series of a folder (:func:`~SDSegLogic.io._dicom.list_series`: GDCM's series listing plus one header
read per file) is repeated by the next step on the same folder: ``sdseg segment`` reads the series, then lists it
again for the DICOM SEG's source instances; ``sdseg score`` lists a case folder to see it is one series, then
reads it. The last listing is kept here with the folder's fingerprint (every entry's name, size and modification
time) and reused while the fingerprint is unchanged; any added, removed or rewritten file lists the folder anew.
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

#: ``(fingerprint, listing)`` of the last folder kept, replaced as one object so that threads (the engine's jobs)
#: never see one folder's fingerprint with another's listing
_LAST: Tuple = (None, None)


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
    """``scan()``, or a copy of what it gave for the same unchanged ``folder`` last time.

    Args:
        folder: the folder ``scan`` lists (its entries make the key).
        scan: lists the folder; what it returns is kept (a copy is handed out, so callers may change theirs).
            An exception is passed on and nothing is kept.
    """
    global _LAST
    key = _fingerprint(folder)
    kept_key, kept_value = _LAST
    if key is not None and key == kept_key:
        return copy.deepcopy(kept_value)
    _LAST = (None, None)
    started = time.time_ns()
    value = scan()
    settled = key is not None and all(mtime < started - SETTLED_S * 1e9 for _, _, mtime in key[2])
    if settled and key == _fingerprint(folder):  # unchanged while it was listed, and not just written
        _LAST = (key, copy.deepcopy(value))
    return value
