"""NIfTI-1 voxels read with NumPy, decompressed once, with exactly SimpleITK's values.

SimpleITK reads a ``.nii.gz`` with one pass of gzip, and the truncation check of
:func:`._nifti.check_nifti_size` needed a second pass; on a 512 x 512 x 200 CT the two passes
were two thirds of the read. Here one pass fills a preallocated buffer, notices a short or corrupt
stream (CRC included) on the way, and the voxels are reinterpreted in place. The gzip decoder is
zlib-ng's when installed (:mod:`._deflate`), as fast as ITK's own.

Only the common case takes this path: a single-file NIfTI-1 (``n+1``) with 2 or 3 dimensions and
a scalar integer or float datatype, whose header SimpleITK reads with the same size and pixel type
as computed here. Everything else (4-D, RGB, complex, ``.hdr``/``.img`` pairs, odd offsets) goes
to SimpleITK as before. Geometry always comes from SimpleITK's reading of the header.

Rescaling follows ITK's NiftiImageIO bit for bit: a slope of 0 or NaN counts as 1; when any remains,
integer and float32 data become float32 computed as ``float(float32(x) * slope + intercept)`` in
double precision (slope and intercept are the header's float32 values), and float64 data stay
float64.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import InputError
from ._deflate import gzip_open, stream_errors
from .nifti_finite import non_finite_read_as_zero

__all__ = ["fast_path_dtype", "nifti_rescale", "integer_rescale", "read_nifti_voxels"]

#: NIfTI-1 datatype code -> stored NumPy type (scalar types only; RGB, complex, float128 are left to ITK)
_STORED = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4", 1024: "i8", 1280: "u8"}

#: values rescaled per block, bounding the float64 temporary to 64 MiB
_RESCALE_BLOCK = 1 << 23

#: compressed bytes read per call while streaming a ``.nii.gz``
_CHUNK = 1 << 22


#: double precision's machine epsilon: ITK's "almost equal" threshold for the rescale fields
_EPSILON = 2.220446049250313e-16
#: below this, a slope, a slope's distance from 1 or an intercept is where ITK's near-equality tests
#: (about 2.2e-16) and ours could disagree; such headers are left to ITK
_AMBIGUOUS = 1e-6


def nifti_rescale(header: Dict[str, Any]) -> Optional[Tuple[float, float]]:
    """(slope, intercept) as ITK (and so 3D Slicer) applies them, or ``None`` when voxels are used as stored.

    A slope of 0 or NaN (or below double precision's epsilon) counts as 1, but the intercept is
    still added (ITK's NiftiImageIO; the NIfTI standard would ignore both); an intercept below
    epsilon counts as 0.
    """
    slope, intercept = float(header["scl_slope"]), float(header["scl_inter"])
    if math.isnan(slope) or abs(slope) <= _EPSILON:
        slope = 1.0
    if abs(intercept) <= _EPSILON:
        intercept = 0.0
    if slope == 1.0 and intercept == 0.0:
        return None
    return slope, intercept


def _unambiguous_rescale(header: Dict[str, Any]) -> bool:
    """Slope and intercept far from ITK's thresholds: exactly 0/1/NaN where special, else clearly not."""
    slope, intercept = float(header["scl_slope"]), float(header["scl_inter"])
    if math.isinf(slope) or not math.isfinite(intercept):
        return False
    if not (slope == 0.0 or math.isnan(slope) or slope == 1.0):
        if abs(slope) < _AMBIGUOUS or abs(slope - 1.0) < _AMBIGUOUS:
            return False
    return intercept == 0.0 or abs(intercept) >= _AMBIGUOUS


def fast_path_dtype(header: Dict[str, Any], exact: bool = False) -> Optional[np.dtype]:
    """The NumPy type SimpleITK would return for this header, or ``None`` when it is not a fast-path file.

    Eligible: a single-file NIfTI-1 (magic ``n+1\\0``) with 2 or 3 dimensions, a scalar datatype,
    positive voxel sizes, an integral ``vox_offset`` >= 352 and an unambiguous rescale. With ``exact``
    (a labelmap), integer voxels with a whole-number rescale (:func:`integer_rescale`, which ITK would
    round to float32) are also eligible with 4 dimensions and negative voxel sizes: ITK keeps such
    voxels in stored order and only flips the geometry, which still comes from ITK.

    Args:
        header: :func:`._nifti.read_nifti_header` fields.
        exact: whether the caller reads a labelmap (:func:`read_nifti_voxels` with ``exact``).

    Returns:
        ``uint8`` ... ``float64`` (native byte order) for eligible files; the caller still
        compares it with SimpleITK's pixel type and spacing before trusting it.
    """
    if header.get("version") != 1 or header.get("magic") != b"n+1\0" or header["datatype"] not in _STORED:
        return None
    dim = header["dim"]
    ndim = int(dim[0])
    labels = exact and 2 <= ndim <= 4 and integer_rescale(header) is not None
    if (ndim not in (2, 3) and not labels) or any(int(d) < 1 for d in dim[1:ndim + 1]):
        return None
    sizes = [float(v) for v in header["pixdim"][1:min(ndim, 3) + 1]]  # spatial: a 4-D time step may be 0
    if not all(v > 0 or (labels and v < 0) for v in sizes):  # ITK flips the axes of negative pixdim
        return None
    offset = float(header["vox_offset"])
    if not math.isfinite(offset) or offset < 352 or offset != int(offset) or not _unambiguous_rescale(header):
        return None
    stored = np.dtype(_STORED[header["datatype"]])
    if nifti_rescale(header) is None:
        return stored
    return np.dtype(np.float64) if stored == np.float64 else np.dtype(np.float32)


def _fill_from_gzip(path: Path, offset: int, buffer: np.ndarray) -> int:
    """Decompress ``path`` once: skip ``offset`` bytes, fill ``buffer``, then verify the rest of the stream.

    Returns:
        Bytes of header and voxels the stream holds, up to ``offset + buffer.size``.

    Raises:
        InputError: the gzip stream is corrupt (bad data or CRC) or ends early inside a member.
    """
    view = memoryview(buffer).cast("B")
    filled = skipped = 0
    try:
        with gzip_open(path) as fh:
            while skipped < offset:  # in pieces: a corrupt header's huge offset must not allocate it
                piece = len(fh.read(min(_CHUNK, offset - skipped)))
                if not piece:
                    break
                skipped += piece
            if skipped == offset:
                while filled < len(view):
                    count = fh.readinto(view[filled:])
                    if not count:
                        break
                    filled += count
                while fh.read(_CHUNK):  # trailing bytes: read to the end so the CRC is checked
                    pass
    except stream_errors() as exc:
        raise InputError(f"{path}: the gzip stream is corrupt or truncated ({exc}); re-export the file.") from None
    return skipped + filled


def _fill_from_file(path: Path, offset: int, buffer: np.ndarray) -> int:
    view = memoryview(buffer).cast("B")
    filled = 0
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            while filled < len(view):
                count = fh.readinto(view[filled:])
                if not count:
                    break
                filled += count
        return min(path.stat().st_size, offset + filled)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the voxels ({exc}).") from None


def integer_rescale(header: Dict[str, Any]) -> Optional[Tuple[int, int, np.dtype]]:
    """``(slope, intercept, type)`` for integer voxels rescaled by whole numbers (as ITK applies them), else ``None``.

    ``type`` is the smallest integer type that holds every rescaled value the stored type allows, so that a
    labelmap keeps labels from 2**24 on exact (ITK's float32 would round 16777217 to 16777216).
    """
    scale = nifti_rescale(header)
    stored = np.dtype(_STORED.get(header["datatype"], "f4"))
    if scale is None or stored.kind not in "iu" or not all(math.isfinite(v) and v.is_integer() for v in scale):
        return None
    slope, intercept = int(scale[0]), int(scale[1])
    info = np.iinfo(stored)
    ends = (slope * int(info.min) + intercept, slope * int(info.max) + intercept)
    for name in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "int64"):
        if np.iinfo(name).min <= min(ends) and max(ends) <= np.iinfo(name).max:
            return slope, intercept, np.dtype(name)
    return None


def _zero_non_finite(path: Path, voxels: np.ndarray) -> None:
    """Set NaN/infinite float voxels to 0 in place, as ITK (and so 3D Slicer) reads them, and warn.

    Once zeroed, the engine's NaN policy can no longer see them: a NaN background (e.g. a masked
    PET or fMRI map) would be segmented as value 0 (soft tissue in a CT window) without a word.

    Args:
        path: the file, named in the warning.
        voxels: (K, J, I) or (J, I) float voxels, native byte order, writable.
    """
    bad = ~np.isfinite(voxels)
    count = int(np.count_nonzero(bad))
    if not count:
        return
    first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad.reshape(-1))), voxels.shape))
    voxels[bad] = 0
    warnings.warn(non_finite_read_as_zero(path, count, first), stacklevel=2)


def read_nifti_voxels(path: Path, header: Dict[str, Any], gzipped: bool, exact: bool = False) -> np.ndarray:
    """The voxels of a fast-path NIfTI-1 file (see :func:`fast_path_dtype`), as SimpleITK returns them.

    Args:
        path: the ``.nii`` or ``.nii.gz`` file.
        header: its :func:`._nifti.read_nifti_header` fields; ``fast_path_dtype(header)`` is not None.
        gzipped: whether the file is gzip-compressed (by content, not by name).
        exact: integer voxels with a whole-number rescale (:func:`integer_rescale`) come back as integers
            (a labelmap), not as ITK's float32.

    Returns:
        Writable array (K, J, I), or (J, I) for a 2-D image, in native byte order: the stored type,
        or float32/float64 when the header rescales (the :func:`integer_rescale` type with ``exact``).

    Raises:
        InputError: the file holds fewer bytes than the header announces, or its gzip stream is corrupt.
    """
    dim = header["dim"]
    ndim = int(dim[0])
    sizes = [int(d) for d in dim[1:ndim + 1]]
    stored = np.dtype(_STORED[header["datatype"]]).newbyteorder(header["endian"])
    offset = int(header["vox_offset"])
    nbytes = math.prod(sizes) * stored.itemsize
    expected = offset + nbytes
    if not gzipped and path.stat().st_size < expected:  # before allocating what a corrupt header claims
        raise InputError(f"{path}: the file is truncated ({path.stat().st_size:,} of {expected:,} bytes of header "
                         "and voxels); copy or export it again.")
    try:
        buffer = np.empty(nbytes, dtype=np.uint8)
    except MemoryError:
        raise InputError(f"{path}: the header announces {nbytes:,} bytes of voxels, more than this machine can "
                         "allocate; check the file (a corrupt header?) or crop the image first.") from None
    actual = (_fill_from_gzip if gzipped else _fill_from_file)(path, offset, buffer)
    if actual < expected:
        raise InputError(f"{path}: the file is truncated ({actual:,} of {expected:,} bytes of header and voxels); "
                         "copy or export it again.")
    voxels = buffer.view(stored).reshape(sizes[::-1])
    native = stored.newbyteorder("=")
    if not stored.isnative:
        voxels = voxels.astype(native)
    if native.kind == "f":  # the NIfTI library under ITK stores non-finite values as 0
        _zero_non_finite(path, voxels)
    scale = nifti_rescale(header)
    if scale is None:
        return voxels
    integer = integer_rescale(header) if exact else None
    if integer is not None:
        out = voxels.astype(integer[2])
        out *= integer[2].type(integer[0])
        out += integer[2].type(integer[1])
        return out
    out_type = np.float64 if native == np.float64 else np.float32
    out = np.empty(voxels.shape, dtype=out_type)
    flat_in, flat_out = voxels.reshape(-1), out.reshape(-1)
    slope, intercept = float(np.float32(scale[0])), float(np.float32(scale[1]))
    with np.errstate(over="ignore", invalid="ignore"):  # ITK overflows to inf silently, and so does this
        for start in range(0, flat_in.size, _RESCALE_BLOCK):
            block = flat_in[start:start + _RESCALE_BLOCK].astype(out_type).astype(np.float64)
            block *= slope
            block += intercept
            flat_out[start:start + _RESCALE_BLOCK] = block
    return out
