"""Keep a 4-D image decoded while its frames are read one after another (``sdseg segment --frame all``).

Reading frame ``k`` of a 4-D NRRD, NIfTI or MetaImage decodes the whole file (gzip included) and
keeps one frame. Segmenting every frame that way decodes the file once per frame, so the reading
cost grows with the square of the frame count. Inside :func:`keep_decoded_frames` the readers keep
the last 4-D file they decoded (only one: the next file replaces it) and serve its other frames
from memory, as long as the file is the same one, unchanged: same device and inode, size, modification time
and status-change time (a same-size file put in its place with its old modification time, as ``cp -p``,
``rsync -t`` or ``os.utime`` do, is a new inode or a new status-change time, and is decoded again). The memory held is
the decoded file in its own voxel type, no more than the reader's memory check already allowed for
reading it. Outside the context nothing is kept, as before.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Tuple, TypeVar

import numpy as np

__all__ = ["keep_decoded_frames", "cached_decode", "own_frame"]

T = TypeVar("T")


class _LastDecoded:
    """The one decoded file kept (key: resolved path, device, inode, size, mtime, ctime, variant)."""

    def __init__(self) -> None:
        self.enabled = False
        self.key: Optional[Tuple[Any, ...]] = None
        self.value: Any = None

    def clear(self) -> None:
        self.key, self.value = None, None


_LAST = _LastDecoded()


@contextlib.contextmanager
def keep_decoded_frames() -> Iterator[None]:
    """Within the block, readers keep the last decoded 4-D file for its next frames; cleared on exit."""
    previous = _LAST.enabled
    _LAST.enabled = True
    try:
        yield
    finally:
        _LAST.clear()
        _LAST.enabled = previous


def cached_decode(path: Path, decode: Callable[[], T], variant: str = "") -> T:
    """``decode()``, or the value it gave for the same unchanged file inside :func:`keep_decoded_frames`.

    Args:
        path: the file ``decode`` reads (its device, inode, size, modification and status-change times are
            part of the key: a file replaced in place is decoded again even when its size and mtime are kept).
        decode: reads and decodes the whole file; its arrays are made read-only (hand on views through
            :func:`own_frame`).
        variant: names how ``decode`` reads the file when one file can be decoded in several ways (a
            labelmap's exact integers, an image's float32), so that one is never served for the other.
    """
    if not _LAST.enabled:
        return decode()
    stat = os.stat(path)
    key = (str(Path(path).resolve()), int(stat.st_dev), int(stat.st_ino), int(stat.st_size), int(stat.st_mtime_ns),
           int(stat.st_ctime_ns), variant)
    if _LAST.key == key:
        return _LAST.value
    _LAST.clear()  # let the previous file go before decoding the next
    value = decode()
    _read_only(value)
    _LAST.key, _LAST.value = key, value
    return value


def _read_only(value: Any) -> None:
    """Mark the arrays of a kept decode (an array, or a tuple holding one) read-only: a view of it that reached a
    caller unowned would raise on an in-place edit instead of changing the frames read next."""
    for item in value if isinstance(value, tuple) else (value,):
        if isinstance(item, np.ndarray):
            item.setflags(write=False)


def own_frame(frame: np.ndarray) -> np.ndarray:
    """A frame (or colour volume: a view into a decoded multi-frame array) that shares no memory with a decode
    kept for the next frames, and that the caller may change in place.

    A view of a kept decode (read-only, :func:`cached_decode`) is copied, and so is float32 (which the
    readers' float32 cast would hand on as it is); other views are returned as they are: their decode is no
    one else's.

    Args:
        frame: (K, J, I[, C]) view of a decoded 4-D or colour array, any voxel type.
    """
    return np.array(frame) if frame.dtype == np.float32 or not frame.flags.writeable else frame
