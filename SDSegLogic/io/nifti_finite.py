"""NaN and infinite voxels stored in a float NIfTI file, found without reading the whole volume at once.

ITK's NIfTI library (under SimpleITK, 3D Slicer and the engine) stores non-finite voxel values as 0,
so code that reads a NIfTI through SimpleITK never sees them. :func:`nifti_non_finite` scans the
stored voxels of a single-file NIfTI-1 (``.nii``, ``.nii.gz``, by content) with a float32 or float64
datatype in blocks, header parsed by :func:`._nifti.read_nifti_header`; other files are not scanned.
The training package refuses such volumes with it; the engine's NIfTI reader warns
(:func:`non_finite_read_as_zero`): from the voxels it holds on its NumPy path, with
:func:`warn_non_finite_nifti` after an ITK read (4-D and other files the NumPy path does not take),
which scans the stored values a second time because ITK has already replaced them with 0; for a 4-D file
it scans, and reports, only the frame read.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Optional, Tuple

import numpy as np

from ..errors import InputError
from ._deflate import gzip_open, stream_errors
from ._nifti import is_gzip, read_nifti_header

__all__ = ["nifti_non_finite", "non_finite_read_as_zero", "warn_non_finite_nifti"]

#: NIfTI-1 float datatype codes -> NumPy type (complex, float128 and RGB are not scanned)
_FLOATS = {16: "f4", 64: "f8"}
#: bytes scanned per block
_BLOCK = 1 << 22


def _float_layout(path: Path) -> Optional[Tuple[np.dtype, Tuple[int, ...], int]]:
    """(stored type, (…, K, J, I)-ordered shape, voxel offset) of a float single-file NIfTI-1, else None."""
    try:
        header = read_nifti_header(path)
    except InputError:
        return None  # not a readable NIfTI-1 header: the reader that follows names the problem
    if header.get("version") != 1 or header.get("magic") != b"n+1\0" or header["datatype"] not in _FLOATS:
        return None
    dim, offset = header["dim"], header["vox_offset"]
    if not 1 <= dim[0] <= 7 or not (offset == offset and offset >= 348):
        return None
    sizes = tuple(int(d) for d in dim[1:dim[0] + 1])
    if any(s < 1 for s in sizes):
        return None
    return np.dtype(_FLOATS[header["datatype"]]).newbyteorder(header["endian"]), sizes[::-1], int(offset)


def _scan(fh: BinaryIO, stored: np.dtype, total: int) -> Tuple[int, int]:
    """(count of non-finite values, flat index of the first) among the next ``total`` stored values."""
    count, first, done = 0, -1, 0
    per_block = _BLOCK // stored.itemsize
    while done < total:
        raw = fh.read(min(per_block, total - done) * stored.itemsize)
        values = np.frombuffer(raw[:len(raw) - len(raw) % stored.itemsize], dtype=stored)
        if not values.size:
            break  # a truncated file: the reader that follows names it
        bad = ~np.isfinite(values)
        n = int(np.count_nonzero(bad))
        if n and first < 0:
            first = done + int(np.argmax(bad))
        count, done = count + n, done + values.size
    return count, first


def _skip(fh: BinaryIO, count: int) -> None:
    """Read past ``count`` bytes of ``fh`` in blocks (a gzip stream cannot seek without inflating)."""
    while count > 0:
        step = len(fh.read(min(count, _BLOCK)))
        if not step:
            return  # a truncated file: the scan finds nothing and the reader names it
        count -= step


def nifti_non_finite(path: Path, frame: Optional[int] = None) -> Optional[Tuple[int, Tuple[int, ...]]]:
    """How many stored voxel values of ``path`` are NaN or infinite, and where the first one is.

    Args:
        path: any file; only a single-file NIfTI-1 with float32/float64 voxels is scanned (by content,
            not by name).
        frame: for a 4-D file (trailing axes of one voxel aside, as ITK reads it), scan only this frame's
            values (the one a reader keeps); ``None`` scans every value.

    Returns:
        ``(count, index)`` with ``index`` the first such voxel's (…, k, j, i) index in the file's own
        storage order ((k, j, i) within the frame when ``frame`` applies), or ``None`` when none is
        found, the file is not scanned, or it cannot be read (the reader that follows reports that).
    """
    found = _find(Path(path), frame)
    return None if found is None else found[:2]


def _find(path: Path, frame: Optional[int]) -> Optional[Tuple[int, Tuple[int, ...], bool]]:
    """:func:`nifti_non_finite`, plus whether the scan kept to ``frame`` (the file is 4-D)."""
    layout = _float_layout(path)
    if layout is None:
        return None
    stored, shape, offset = layout
    squeezed = shape
    while len(squeezed) > 3 and squeezed[0] == 1:  # trailing NIfTI axes of one voxel: ITK drops them
        squeezed = squeezed[1:]
    framed = frame is not None and len(squeezed) == 4
    skipped = 0
    if framed:
        shape = squeezed[1:]
        skipped = int(frame) * int(np.prod(shape)) * stored.itemsize
    try:
        with (gzip_open(path) if is_gzip(path) else open(path, "rb")) as fh:
            _skip(fh, offset + skipped)
            count, first = _scan(fh, stored, int(np.prod(shape)))
    except (OSError, EOFError, *stream_errors()):
        return None
    if not count:
        return None
    return count, tuple(int(v) for v in np.unravel_index(first, shape)), framed


def non_finite_read_as_zero(path: Path, count: int, first: Tuple[int, ...], frame: Optional[int] = None) -> str:
    """The warning for ``count`` NaN/infinite voxels of ``path`` read as 0.

    Args:
        path: the file named.
        count: how many voxel values are NaN or infinite.
        first: the first one's index in storage order: (j, i), (k, j, i) or (t, k, j, i).
        frame: the 4-D frame read, when ``count`` and ``first`` are within that frame.
    """
    axes = ", ".join(("t", "k", "j", "i")[-len(first):]) if len(first) <= 4 else "index"
    where = f"index ({axes}) = {first}" + ("" if frame is None else f" of frame {frame}")
    return (f"{path}: {count} voxel value(s) are NaN or infinite (first at {where}); "
            "they are read as 0, as 3D Slicer (ITK) reads NIfTI files, and segmented as 0. If they mark "
            "missing data, replace them with a value outside the structures (e.g. the background) and "
            "save the image again.")


def warn_non_finite_nifti(path: Path, frame: Optional[int] = None) -> None:
    """Warn (:func:`non_finite_read_as_zero`) when ITK has read NaN/infinite stored voxels of ``path`` as 0.

    Args:
        path: the NIfTI file ITK read.
        frame: the 4-D frame the reader keeps (only its voxels are scanned and reported); ``None``: all.
    """
    import warnings

    found = _find(Path(path), frame)
    if found is not None:
        count, first, framed = found
        warnings.warn(non_finite_read_as_zero(path, count, first, frame if framed else None), stacklevel=3)
