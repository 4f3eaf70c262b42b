"""A small NRRD writer (attached header, gzip) that keeps full float precision and UTF-8 fields.

pynrrd's writer encodes the header as ASCII, which fails on non-ASCII segment names; Slicer
writes such names as UTF-8, and so does this writer.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Mapping

import numpy as np

from ..geometry import ImageGeometry

__all__ = ["write_nrrd"]

_TYPES = {"u1": "unsigned char", "u2": "unsigned short", "i2": "short", "f4": "float", "f8": "double"}


def _num(value: float) -> str:
    text = repr(float(value))
    return "0" if text in ("0.0", "-0.0") else text


def _vector(values) -> str:
    return "(" + ",".join(_num(v) for v in values) + ")"


def _clean(value: object) -> str:
    return str(value).replace("\r", " ").replace("\n", " ")


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
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes(order="C")
    compressor = zlib.compressobj(compression_level, zlib.DEFLATED, 31)  # 31: gzip container
    with open(path, "wb") as fh:
        fh.write(header)
        fh.write(compressor.compress(data))
        fh.write(compressor.flush())
