"""NRRD voxels for the layouts the fast path of :mod:`._nrrd` leaves to pynrrd (4-D, colour, 2-D, detached data).

pynrrd inflates ``gzip`` data with a single zlib stream, so it reads only the first member of a
multi-member file (``cat a.gz b.gz``, ``bgzip``, parallel ``pigz`` output) and then refuses the file
as the wrong size, although ITK (and so 3D Slicer) reads it. Gzip data pynrrd cannot read is
therefore inflated here, every member, by the inflater the fast path uses
(:class:`._deflate.GzipMembers`: corrupt or truncated streams, surplus data, the CRC of the last member).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..errors import InputError
from ._deflate import GzipMembers
from ._nrrd_text import _data_offset, _header_lines, _raw_data_start
from ._text_voxels import NRRD_TEXT, check_text_voxels

__all__ = ["read_nrrd_voxels"]

_PIECE = 1 << 22  # compressed bytes read, and at most bytes inflated, per step
_PYNRRD_ENCODINGS = ("raw", "ascii", "text", "txt", "gzip", "gz", "bzip2", "bz2")  # Teem's hex is not among them


def _dtype(header: Dict[str, Any]) -> Optional[np.dtype]:
    """The voxel type of the header's ``type`` and ``endian`` (``None``: a type left to pynrrd, e.g. ``block``)."""
    from ._nrrd import _FAST_TYPES, _WIDE_TYPES

    name = str(header.get("type", "")).lower()
    if name in _FAST_TYPES:
        code = _FAST_TYPES[name]
    elif name in _WIDE_TYPES:
        code = "u8" if name.startswith("u") else "i8"
    else:
        return None
    if code[1] == "1":
        return np.dtype(code)
    return np.dtype(("<" if str(header.get("endian", "little")).lower() == "little" else ">") + code)


def _inflate(fh, path: Path, needed: Optional[int]) -> bytearray:
    """Every gzip member from ``fh`` on, inflated; stops after the member that completes ``needed`` bytes.

    Args:
        needed: bytes the header announces (byte skip included); ``None`` inflates to the end of the file.

    Raises:
        InputError: a corrupt stream, a stream cut short, or more data than ``needed``.
    """
    members = GzipMembers(fh, str(path), needed, _PIECE)
    out = bytearray()
    for chunk in members:
        out += chunk
    if not members.complete:
        raise InputError(f"{path}: the gzip data ends before its end-of-stream marker ({len(out):,} bytes inflated); "
                         "the file is truncated, re-export it.")
    return out


def _check_ascii_values(path: Path, header: Dict[str, Any]) -> None:
    """Refuse ASCII values the header's type would change (:func:`._text_voxels.check_text_voxels`, NRRD rules).

    A ``uchar`` file holding ``300`` would read 44 (NumPy's text parser and ITK wrap it), an ``int64`` one beyond
    its range would saturate, and ``1.7``, ``1e2`` or ``0x10`` would be refused as "truncated" (ITK reads them
    as 1, 1 and 0).

    Raises:
        InputError: naming the first such value, its position in the data, the type and the remedy.
    """
    dtype = _dtype(header)
    located = _raw_data_start(path, header)
    if dtype is None or located is None:
        return
    source, start = located
    count = math.prod(int(v) for v in header["sizes"])
    with open(source, "rb") as fh:
        fh.seek(start)
        data = fh.read()
    check_text_voxels(path, data, count, dtype, repr(header.get("type")), NRRD_TEXT)


def read_nrrd_voxels(path: Path, header: Dict[str, Any]) -> np.ndarray:
    """The voxels of a NRRD file in the header's axis order (NumPy Fortran view, shape = ``sizes``).

    pynrrd reads the file; gzip data it cannot read (several members, or a damaged stream) is
    inflated here instead, which reads every member or names what is wrong with the stream.

    Args:
        path: the ``.nrrd`` or ``.nhdr`` file.
        header: its pynrrd header (:func:`._nrrd.read_nrrd_header`).

    Returns:
        Array in the file's voxel type (native or stated byte order) of shape ``header["sizes"]``,
        as ``nrrd.read(..., index_order="F")`` returns it.

    Raises:
        InputError: data that is corrupt, truncated, or (gzip) longer or shorter than announced.
    """
    import nrrd

    encoding = str(header.get("encoding", "")).lower()
    if encoding not in _PYNRRD_ENCODINGS:
        raise InputError(f"{path}: NRRD encoding {header.get('encoding')!r} is not supported; save the image with raw "
                         "or gzip encoding (e.g. from 3D Slicer or SimpleITK).")
    if encoding in ("ascii", "text", "txt"):
        _check_ascii_values(path, header)
    try:
        if not _header_lines(path)[1]:
            return nrrd.read(str(path), index_order="F")[0]
        if header.get("data file") or header.get("datafile"):  # the header as read_nrrd_header tidied it
            return nrrd.read_data(header, None, str(path), index_order="F")
        with open(path, "rb") as fh:
            fh.seek(_data_offset(path))
            return nrrd.read_data(header, fh, str(path), index_order="F")
    except InputError:
        raise
    except Exception as exc:  # pynrrd raises NRRDError, ValueError, zlib/EOF errors on corrupt data
        failure = f"{type(exc).__name__}: {exc}"
    dtype = _dtype(header)
    located = _raw_data_start(path, header)
    if encoding not in ("gzip", "gz") or dtype is None or located is None:
        raise InputError(f"{path}: the NRRD data cannot be read ({failure}); the file is truncated or corrupt, "
                         "re-export it.")
    sizes = [int(v) for v in header["sizes"]]
    nbytes = math.prod(sizes) * dtype.itemsize
    skip = int(header.get("byte skip", header.get("byteskip", 0)) or 0)  # counted in inflated bytes
    if skip < -1:
        raise InputError(f"{path}: byte skip {skip} is invalid (it must be -1 or more); fix the header.")
    source, start = located
    with open(source, "rb") as fh:
        fh.seek(start)
        data = _inflate(fh, path, None if skip == -1 else skip + nbytes)
    offset = skip if skip >= 0 else len(data) - nbytes  # -1: the data are the last bytes
    if offset < 0 or len(data) < offset + nbytes:
        raise InputError(f"{path}: the gzip data holds {len(data):,} bytes but the header announces {nbytes:,} "
                         f"(byte skip {skip}); the file is truncated, re-export it.")
    voxels = np.frombuffer(data, dtype=dtype, count=math.prod(sizes), offset=offset)
    return voxels.reshape(sizes[::-1]).T
