"""NRRD voxels for the layouts the fast path of :mod:`._nrrd` leaves to pynrrd (4-D, colour, 2-D, detached data).

pynrrd inflates ``gzip`` data with a single zlib stream, so it reads only the first member of a
multi-member file (``cat a.gz b.gz``, ``bgzip``, parallel ``pigz`` output) and then refuses the file
as the wrong size, although ITK (and so 3D Slicer) reads it. Gzip data pynrrd cannot read is
therefore inflated here, every member, with the checks of the fast path (corrupt or truncated
streams, surplus data, the CRC of the last member).
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..errors import InputError
from ._deflate import zlib_errors, zlib_module

__all__ = ["read_nrrd_voxels"]

_PIECE = 1 << 22  # compressed bytes read, and at most bytes inflated, per step


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
    make = lambda: zlib_module().decompressobj(zlib.MAX_WBITS | 16)  # noqa: E731
    out, inflater, piece = bytearray(), make(), b""
    limit = None if needed is None else needed + 1  # one byte more than announced shows a surplus
    try:
        while limit is None or len(out) < limit:
            if not piece:
                piece = fh.read(_PIECE)
                if not piece:
                    break
            if inflater.eof:  # the next member of a multi-member stream
                if needed is not None and len(out) >= needed:
                    break
                inflater = make()
            room = _PIECE if limit is None else min(_PIECE, limit - len(out))
            out += inflater.decompress(piece, room)
            piece = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
    except zlib_errors() as exc:
        raise InputError(f"{path}: the NRRD data cannot be read (gzip: {exc}); the file is truncated or corrupt, "
                         "re-export it.") from None
    if needed is not None and len(out) > needed:
        raise InputError(f"{path}: the gzip data holds more than the {needed:,} bytes its header announces; the file "
                         "is corrupt, re-export it.")
    if not inflater.eof:
        raise InputError(f"{path}: the gzip data ends before its end-of-stream marker ({len(out):,} bytes inflated); "
                         "the file is truncated, re-export it.")
    return out


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

    from ._nrrd import _raw_data_start

    try:
        return nrrd.read(str(path), index_order="F")[0]
    except Exception as exc:  # pynrrd raises NRRDError, ValueError, zlib/EOF errors on corrupt data
        failure = f"{type(exc).__name__}: {exc}"
    dtype = _dtype(header)
    located = _raw_data_start(path, header)
    if str(header.get("encoding", "")).lower() not in ("gzip", "gz") or dtype is None or located is None:
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
