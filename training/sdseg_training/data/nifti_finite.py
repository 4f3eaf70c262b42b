"""NaN and infinite voxels of a float NIfTI volume, seen in the file before ITK reads them as 0.

ITK's NIfTI library (under SimpleITK, 3D Slicer and the engine) stores non-finite voxel values as 0,
so a training volume read through SimpleITK no longer shows them to :func:`.preprocess.refuse_non_finite`:
a CT with a NaN patch (e.g. outside a resampled field of view) trained as if the patch were 0 HU, while the
same volume as NRRD was refused. Here the stored voxels of a single-file NIfTI-1 (``.nii``, ``.nii.gz``)
with a float32 or float64 datatype are scanned in blocks; other files are left to the ITK read.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import BinaryIO, Optional, Tuple

import numpy as np

__all__ = ["refuse_non_finite_nifti"]

#: NIfTI-1 float datatype codes -> NumPy type (complex, float128 and RGB are left to ITK)
_FLOATS = {16: "f4", 64: "f8"}
#: bytes scanned per block (a multiple of every item size)
_BLOCK = 1 << 22


def _float_layout(raw: bytes) -> Optional[Tuple[np.dtype, Tuple[int, ...], int]]:
    """(stored type, (K, J, I)-ordered shape, voxel offset) of a float single-file NIfTI-1 header, else None."""
    if len(raw) < 348 or raw[344:348] != b"n+1\0":
        return None
    endian = next((e for e in "<>" if struct.unpack(e + "i", raw[:4])[0] == 348), None)
    if endian is None:
        return None
    dim = struct.unpack_from(endian + "8h", raw, 40)
    datatype = struct.unpack_from(endian + "h", raw, 70)[0]
    offset = struct.unpack_from(endian + "f", raw, 108)[0]
    if datatype not in _FLOATS or not 1 <= dim[0] <= 7 or not (offset == offset and offset >= 348):
        return None
    sizes = tuple(int(d) for d in dim[1:dim[0] + 1])
    if any(s < 1 for s in sizes):
        return None
    return np.dtype(_FLOATS[datatype]).newbyteorder(endian), sizes[::-1], int(offset)


def _open(path: Path) -> BinaryIO:
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # type: ignore[return-value]


def _scan(fh: BinaryIO, stored: np.dtype, total: int) -> Tuple[int, int]:
    """(count of non-finite values, flat index of the first) among the next ``total`` stored values."""
    count, first, done = 0, -1, 0
    per_block = _BLOCK // stored.itemsize
    while done < total:
        raw = fh.read(min(per_block, total - done) * stored.itemsize)
        values = np.frombuffer(raw[:len(raw) - len(raw) % stored.itemsize], dtype=stored)
        if not values.size:
            break  # a truncated file: the engine's size check before the ITK read names it
        bad = ~np.isfinite(values)
        n = int(np.count_nonzero(bad))
        if n and first < 0:
            first = done + int(np.argmax(bad))
        count, done = count + n, done + values.size
    return count, first


def refuse_non_finite_nifti(path: str) -> None:
    """Raise a DatasetError naming ``path``, the count and the first voxel when its stored floats include NaN/inf.

    Args:
        path: any volume file; only single-file NIfTI-1 with float32/float64 voxels is scanned (by
            content, not by name), everything else returns at once.

    Raises:
        DatasetError: non-finite stored values, with the first one's (k, j, i) index in the file.
    """
    from ..errors import DatasetError

    p = Path(path)
    try:
        with _open(p) as fh:
            layout = _float_layout(fh.read(348))
            if layout is None:
                return
            stored, shape, offset = layout
            fh.read(offset - 348)
            count, first = _scan(fh, stored, int(np.prod(shape)))
    except (OSError, EOFError):
        return  # unreadable here: the ITK read reports it
    if count:
        index = tuple(int(v) for v in np.unravel_index(first, shape))
        raise DatasetError(f"{p}: {count} value(s) are NaN or infinite (the first at voxel (k, j, i) = {index} of the "
                           "file); NIfTI readers (ITK, 3D Slicer, the engine) read them as 0, so training would learn "
                           "values the scan does not hold. Replace them (e.g. with the window minimum, or -1024 HU for "
                           "air outside a CT's field of view) and save the file again.")
