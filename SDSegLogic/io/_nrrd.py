"""NRRD reading with pynrrd: header checks, voxels, colour and 4-D axes (the grid: :mod:`._nrrd_geometry`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import InputError
from ..geometry import ImageGeometry
from ._deflate import GzipMembers
from ._nrrd_data import read_nrrd_voxels
from ._nrrd_geometry import _geometry, _spatial_axes, nrrd_grid
from ._nrrd_text import _data_offset, _header_lines, _raw_data_start, refuse_split_data

__all__ = ["read_nrrd_header", "nrrd_voxel_count", "nrrd_grid", "read_nrrd"]

_COLOUR_KINDS = ("rgb-color", "rgba-color", "3-color", "4-color", "3-vector", "4-vector", "vector")


def read_nrrd_header(path: Path) -> Dict[str, Any]:
    """Parse only the header; reject detached data outside the header's folder (untrusted input)."""
    import nrrd

    try:
        lines = _header_lines(path)[0]
        refuse_split_data(path, lines)
        header = nrrd.read_header(lines)
    except InputError:  # a ValueError, with its own message
        raise
    except (nrrd.NRRDError, ValueError, UnicodeDecodeError, IndexError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: invalid NRRD header ({exc}); re-export the image.") from None
    _check_axis_fields(path, header)
    data_file = header.get("data file") or header.get("datafile")
    if data_file is not None:
        folder = path.resolve().parent
        names = [data_file] if isinstance(data_file, str) else list(data_file)
        for name in names:
            target = (folder / str(name).split(" ")[0]).resolve()
            if folder not in target.parents:
                raise InputError(
                    f"{path}: the detached header points to data outside its folder ({name!r}); only data files "
                    "next to the .nhdr are read. Save the image as a single .nrrd file."
                )
    return header


#: Header fields with one entry per axis (the NRRD format's "per-axis" fields), as pynrrd names them.
_PER_AXIS_FIELDS = ("sizes", "space directions", "kinds", "spacings", "thicknesses", "axis mins", "axis maxs",
                    "centerings", "labels", "units")


def _check_axis_fields(path: Path, header: Dict[str, Any]) -> None:
    """Refuse a header whose ``dimension`` is missing or disagrees with a per-axis field's number of entries.

    Raises:
        InputError: naming the field, its number of entries and the dimension (Teem refuses such files).
    """
    dimension = header.get("dimension")
    if not isinstance(dimension, (int, np.integer)) or int(dimension) < 1:
        raise InputError(f"{path}: the NRRD header's dimension is {dimension!r}, not a number of axes of at least 1; "
                         "the file is damaged or not written by an NRRD writer; re-export the image.")
    if "sizes" not in header:
        raise InputError(f"{path}: the NRRD header has no 'sizes' field; re-export the image.")
    for name in _PER_AXIS_FIELDS:
        value = header.get(name)
        if value is not None and len(value) != int(dimension):
            raise InputError(f"{path}: the NRRD header's {name!r} has {len(value)} entries but its dimension is "
                             f"{int(dimension)} (one entry per axis); the header is damaged; re-export the image.")


def nrrd_voxel_count(header: Dict[str, Any]) -> int:
    """Number of values (all axes, colour included) the header announces.

    Computed with Python integers, so sizes whose product exceeds int64 cannot wrap around to a
    small (or zero) count that would slip past the memory check.
    """
    return math.prod(int(s) for s in header["sizes"])


_FAST_TYPES = {
    "uchar": "u1", "unsigned char": "u1", "uint8": "u1", "uint8_t": "u1",
    "signed char": "i1", "int8": "i1", "int8_t": "i1",
    "short": "i2", "short int": "i2", "signed short": "i2", "signed short int": "i2", "int16": "i2", "int16_t": "i2",
    "ushort": "u2", "unsigned short": "u2", "unsigned short int": "u2", "uint16": "u2", "uint16_t": "u2",
    "int": "i4", "signed int": "i4", "int32": "i4", "int32_t": "i4",
    "uint": "u4", "unsigned int": "u4", "uint32": "u4", "uint32_t": "u4",
    "float": "f4", "double": "f8",
}
_PIECE = 1 << 22  # bytes read, and at most bytes inflated, per step (the cast follows piece by piece)


_WIDE_TYPES = ("longlong", "long long", "long long int", "signed long long", "signed long long int", "int64", "int64_t",
               "ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t")


def _item_bytes(header: Dict[str, Any]) -> Optional[int]:
    """Bytes per value of the header's ``type`` (``None`` when unknown: pynrrd then reports it)."""
    name = str(header.get("type", "")).lower()
    if name in _FAST_TYPES:
        return int(_FAST_TYPES[name][1])
    if name in _WIDE_TYPES:
        return 8
    if name == "block":
        try:
            return int(header.get("block size", header.get("blocksize")))
        except (TypeError, ValueError):
            return None
    return None


def _check_raw_length(path: Path, header: Dict[str, Any]) -> None:
    """Refuse raw data shorter than sizes x type, before pynrrd reads it.

    With ``byte skip: -1`` pynrrd takes the file's last bytes as the data, so a truncated file would
    otherwise be read with header bytes shifted into the voxels, silently.

    Raises:
        InputError: fewer bytes after the header (and skipped lines/bytes) than the header announces.
    """
    if str(header.get("encoding", "")).lower() != "raw":
        return
    item = _item_bytes(header)
    located = _raw_data_start(path, header)
    if item is None or located is None:
        return
    source, start = located
    skip = int(header.get("byte skip", header.get("byteskip", 0)) or 0)
    if skip > 0:
        start += skip
    needed = nrrd_voxel_count(header) * item
    available = source.stat().st_size - start
    if available < needed:
        where = "" if source == path else f" (data file {source.name})"
        raise InputError(
            f"{path}: the raw NRRD data{where} holds {max(available, 0):,} bytes but the header announces "
            f"{needed:,} (sizes {' x '.join(str(int(v)) for v in header['sizes'])} of type {header.get('type')!r}, "
            f"byte skip {skip}); the file is truncated, re-export it."
        )


def _read_scalar_volume(path: Path, header: Dict[str, Any]) -> Optional[Tuple[np.ndarray, str]]:
    """Fast path for the common case, or ``None`` to let pynrrd read the file.

    Handles a 3-D scalar volume with data attached, ``raw`` or ``gzip`` encoding, no line/byte
    skip and a plain numeric type. The data is inflated in 4 MiB pieces while a worker thread casts
    the pieces already inflated into the float32 result (zlib and NumPy release the GIL), so the
    read costs about one decompression instead of decompression + concatenation + a cast, and
    never holds the voxels in the file's type as a whole.

    Returns:
        ``(array, original_dtype)``: float32 (K, J, I), C-contiguous; the file's voxel type name.

    Raises:
        InputError: truncated or corrupt data.
    """
    encoding = str(header.get("encoding", "")).lower()
    code = _FAST_TYPES.get(str(header.get("type", "")).lower())
    if (code is None or encoding not in ("raw", "gzip", "gz") or header.get("data file") or header.get("datafile")
            or int(header.get("line skip", header.get("lineskip", 0)) or 0) != 0
            or int(header.get("byte skip", header.get("byteskip", 0)) or 0) != 0):
        return None
    endian = str(header.get("endian", "little")).lower()
    dtype = np.dtype(("<" if endian == "little" else ">") + code) if code[1] != "1" else np.dtype(code)
    sizes = [int(v) for v in header["sizes"]]
    count = math.prod(sizes)
    nbytes = count * dtype.itemsize
    out = np.empty(count, dtype=np.float32)
    offset = _data_offset(path)
    from concurrent.futures import ThreadPoolExecutor

    beyond: list = []  # per piece with doubles beyond float32: (the first one in file order, its value, count)

    def cast(start: int, chunk: bytes) -> None:
        values = np.frombuffer(chunk, dtype=dtype)
        with np.errstate(over="ignore"):
            out[start:start + values.size] = values
        if dtype.itemsize == 8 and np.isinf(out[start:start + values.size]).any():  # double beyond float32?
            found = np.flatnonzero(np.isinf(out[start:start + values.size]) & np.isfinite(values))
            if found.size:
                beyond.append((start + int(found[0]), float(values[found[0]]), int(found.size)))

    filled, pending, carry = 0, [], b""

    def emit(data: bytes) -> None:
        """Queue the whole voxels of ``carry + data`` for casting; keep a split voxel's bytes."""
        nonlocal filled, carry
        if carry:
            data, carry = carry + data, b""
        whole = len(data) - len(data) % dtype.itemsize
        if whole < len(data):
            data, carry = data[:whole], data[whole:]
        if data:
            pending.append(pool.submit(cast, filled // dtype.itemsize, data))
            filled += len(data)

    with open(path, "rb") as fh, ThreadPoolExecutor(max_workers=1, thread_name_prefix="sdseg-read") as pool:
        fh.seek(offset)
        try:
            if encoding == "raw":
                while filled + len(carry) < nbytes:
                    piece = fh.read(min(_PIECE, nbytes - filled - len(carry)))
                    if not piece:
                        break
                    emit(piece)
            else:
                members = GzipMembers(fh, str(path), nbytes, _PIECE)
                for chunk in members:
                    emit(chunk)
                if filled + len(carry) >= nbytes and not members.complete:
                    raise InputError(f"{path}: the gzip data ends before its end-of-stream marker; the file is "
                                     "truncated, re-export it.")
        finally:
            for future in pending:
                future.result()
    if filled < nbytes:
        raise InputError(f"{path}: the NRRD data holds {filled + len(carry):,} of the {nbytes:,} bytes its header "
                         "announces; the file is truncated, re-export it.")
    if beyond:
        raise _beyond_float32(path, beyond, sizes)
    return out.reshape(sizes[::-1]), dtype.newbyteorder("=").name


def _beyond_float32(path: Path, beyond: list, sizes: list) -> InputError:
    """The refusal of doubles beyond float32 (worded as :func:`~SDSegLogic.preprocessing.check_float32_range`).

    ``beyond``: per piece, (its first such voxel in file order, that value, how many it holds); file
    order is the C order of (K, J, I), the reversed ``sizes``.
    """
    first, value, _ = min(beyond)
    index = tuple(int(v) for v in np.unravel_index(first, tuple(sizes[::-1])))
    limit = float(np.finfo(np.float32).max)
    return InputError(
        f"{path}: {sum(n for _, _, n in beyond)} voxel value(s) lie beyond the float32 range the engine computes in "
        f"(|v| <= {limit:.4g}); the first is {value:g} at index (k, j, i) = {index}. They are finite, so a NaN policy "
        "does not replace them: rescale the image, or clip it to the value range of its modality, before segmenting."
    )


def read_nrrd(path: Path, header: Dict[str, Any], frame: Optional[int],
              exact: bool = False) -> Tuple[np.ndarray, ImageGeometry, Dict[str, Any]]:
    """Read voxels and geometry.

    Args:
        exact: keep a 3-D volume of 32-bit integers or doubles in its type (by default it is cast to float32
            while inflating, which rounds integers above 2**24); 8- and 16-bit integers are exact as float32.

    Returns:
        ``(array, geometry, facts)``: array (K, J, I) or (K, J, I, C) in the file's dtype, where C is
        the colour axis; ``facts`` has ``kind`` (``"scalar"``, ``"colour"``) and the original dtype.

    Raises:
        InputError: corrupt data, 4-D without ``frame``, more than one non-spatial axis.
    """
    if path.name.lower().endswith(".seg.nrrd"):
        raise InputError(f"{path}: this is a Slicer segmentation, not an image; give the image it was drawn on.")
    spatial, others = _spatial_axes(header)
    geometry = _geometry(header, spatial, path)
    if len(others) > 1:
        raise InputError(f"{path}: {len(others)} non-spatial axes (kinds {header.get('kinds')}); give a 3-D image.")
    wide = exact and _FAST_TYPES.get(str(header.get("type", "")).lower()) in ("i4", "u4", "f8")
    fast = _read_scalar_volume(path, header) if spatial == [0, 1, 2] and not others and not wide else None
    if fast is not None:
        array, original = fast
        return array, geometry, {"kind": "scalar", "original_dtype": original, "kinds": header.get("kinds")}
    _check_raw_length(path, header)
    if others:  # a frame of a 4-D file: --frame all reads the others from the same decode
        from .frame_cache import cached_decode

        data = cached_decode(path, lambda: read_nrrd_voxels(path, header))
    else:
        data = read_nrrd_voxels(path, header)
    if data.dtype.fields is not None:
        raise InputError(f"{path}: structured voxel type {data.dtype} is not supported; save scalar voxels.")
    facts: Dict[str, Any] = {"kind": "scalar", "original_dtype": str(data.dtype), "kinds": header.get("kinds")}
    # Fortran order (x, y, z) -> move any non-spatial axis last, then reverse the spatial axes to (K, J, I)
    data = np.moveaxis(data, spatial + others, list(range(data.ndim)))
    if len(spatial) == 2:
        data = np.expand_dims(data, 2)
    data = np.transpose(data, (2, 1, 0) + tuple(range(3, data.ndim)))
    if others:
        kind = str(header.get("kinds", ["domain"] * int(header["dimension"]))[others[0]]).lower()
        count = data.shape[-1]
        if count == 1:
            data = data[..., 0]
        elif kind in _COLOUR_KINDS and count in (3, 4):
            facts["kind"] = "colour"
        else:
            if frame is None:
                raise InputError(
                    f"{path}: 4-D image with {count} frames (axis kind {kind!r}); choose one with frame=0..{count - 1} "
                    "(--frame N on the command line, or --frame all for every frame), or save a single 3-D volume."
                )
            if not 0 <= frame < count:
                raise InputError(f"{path}: frame={frame} is out of range; the image has frames 0..{count - 1}.")
            data = data[..., frame]
            facts["frame"] = frame
        from .frame_cache import own_frame

        data = own_frame(data)  # a frame, the one frame or the colour volume: none a view of the kept decode
    return data, geometry, facts
