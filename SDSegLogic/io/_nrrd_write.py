"""A small NRRD writer (attached header, gzip) that keeps full float precision and UTF-8 fields.

pynrrd's writer encodes the header as ASCII, which fails on non-ASCII segment names; Slicer
writes such names as UTF-8, and so does this writer.

The gzip data is compressed in parallel, the way ``pigz`` does it: the voxel bytes are cut into
fixed 1 MiB chunks, each chunk is deflated on its own (primed with the 32 KiB before it, so the
ratio barely changes) and ends on a byte-aligned sync-flush block, and the pieces are joined into
ONE ordinary gzip member with the CRC-32 and length of the whole data. Every gzip reader (zlib,
pynrrd, teem/3D Slicer, ITK) reads it as usual. The chunking does not depend on the number of
threads, so the bytes written are the same on every machine that deflates with the same library
(zlib-ng when installed, else zlib: :mod:`._deflate`).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Mapping, Optional

import numpy as np

from ..geometry import ImageGeometry
from ._deflate import zlib_module

__all__ = ["write_nrrd", "write_gzip_member"]

_CHUNK = 1 << 20  # bytes of voxel data per independently deflated piece
_WINDOW = 1 << 15  # deflate's window: each piece is primed with the 32 KiB before it
# gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS "unknown" (reproducible bytes)
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

_TYPES = {"u1": "unsigned char", "u2": "unsigned short", "i2": "short", "f4": "float", "f8": "double"}


def _num(value: float) -> str:
    text = repr(float(value))
    return "0" if text in ("0.0", "-0.0") else text


def _vector(values) -> str:
    return "(" + ",".join(_num(v) for v in values) + ")"


def _clean(value: object) -> str:
    """One header line's text: control characters become spaces, a backslash is escaped as teem writes it.

    teem (3D Slicer, ITK) unescapes ``\\\\`` and ``\\n`` when it reads a ``key:=value`` line, so a raw
    ``C:\\new`` would be read back with a line break. Every control character (line breaks, tab,
    form feed, DEL ...) becomes a space, as in the DICOM SEG writer's LO values, so that a segment
    name reads back the same from both files.
    """
    text = "".join(" " if ch < " " or ch == "\x7f" else ch for ch in str(value))
    return text.replace("\\", "\\\\")


def write_nrrd(path: Path, array: np.ndarray, geometry: ImageGeometry, fields: Mapping[str, object],
               compression_level: int = 6) -> None:
    """Write a 3-D scalar volume with an attached header in the LPS space.

    Args:
        path: destination (written directly; wrap in :func:`atomic_output` for atomicity).
        array: (K, J, I) array of dtype uint8, uint16, int16, float32 or float64.
        geometry: its grid; ``space directions`` = direction columns x spacing, ``space origin`` = origin.
        fields: custom ``key:=value`` lines, written in the given order.
        compression_level: gzip level 1..9.
    """
    code = array.dtype.kind + str(array.dtype.itemsize)
    nrrd_type = _TYPES[code]
    axes = geometry.direction_matrix * np.asarray(geometry.spacing)
    lines = [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
        f"type: {nrrd_type}",
        "dimension: 3",
        "space: left-posterior-superior",
        "sizes: " + " ".join(str(int(n)) for n in geometry.shape),
        "space directions: " + " ".join(_vector(axes[:, c]) for c in range(3)),
        "kinds: domain domain domain",
        "endian: little",
        "encoding: gzip",
        "space origin: " + _vector(geometry.origin),
    ]
    lines += [f"{_clean(key)}:={_clean(value)}" for key, value in fields.items()]
    header = ("\n".join(lines) + "\n\n").encode("utf-8")
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    with open(path, "wb") as fh:
        fh.write(header)
        write_gzip_member(fh, memoryview(data.reshape(-1)).cast("B"), compression_level)


def _deflate_piece(data: memoryview, start: int, level: int) -> bytes:
    """Raw deflate of ``data[start:start + _CHUNK]``; sync-flushed, or finished for the last piece."""
    stop = min(start + _CHUNK, len(data))
    if start > 0:
        compressor = zlib_module().compressobj(level, zlib.DEFLATED, -15, zdict=bytes(data[max(0, start - _WINDOW):start]))
    else:
        compressor = zlib_module().compressobj(level, zlib.DEFLATED, -15)
    body = compressor.compress(data[start:stop])
    return body + compressor.flush(zlib.Z_FINISH if stop == len(data) else zlib.Z_SYNC_FLUSH)


def write_gzip_member(fh: BinaryIO, data: memoryview, level: int = 6, workers: Optional[int] = None) -> None:
    """Write ``data`` (a flat byte view) to ``fh`` as one gzip member, deflated in parallel.

    Args:
        fh: a binary file opened for writing, positioned where the gzip stream starts.
        data: the bytes to compress (``memoryview`` of format ``"B"``; not copied).
        level: zlib compression level 1..9.
        workers: threads (default: ``min(8, os.cpu_count())``); zlib releases the GIL while it
            deflates. The output bytes do not depend on it.
    """
    starts = list(range(0, len(data), _CHUNK)) or [0]
    workers = max(1, min(workers or min(8, os.cpu_count() or 1), len(starts)))
    fh.write(_GZIP_HEADER)
    if workers == 1:
        for start in starts:
            fh.write(_deflate_piece(data, start, level))
        crc = zlib_module().crc32(data)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sdseg-gzip") as pool:
            checksum = pool.submit(zlib_module().crc32, data)
            for piece in pool.map(lambda start: _deflate_piece(data, start, level), starts):
                fh.write(piece)
            crc = checksum.result()
    fh.write(struct.pack("<II", crc & 0xFFFFFFFF, len(data) & 0xFFFFFFFF))
