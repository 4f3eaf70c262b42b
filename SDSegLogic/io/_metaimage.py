"""MetaImage (``.mha`` / ``.mhd``) header checks, done before SimpleITK reads the voxels.

A header names its data files (one file, a ``LIST`` of files or a printf format string). They
must lie in the header's folder (untrusted input) and hold the bytes the header announces: ITK
would read files anywhere and fill missing data with whatever memory held. Compressed data must
inflate without error: ITK only prints "Uncompress failed" and returns garbage voxels; plain
compressed data is checked while it is read, in one pass (:mod:`._metaimage_voxels`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import InputError
from ._metaimage_text import check_metaimage_text
from ._metaimage_voxels import inflate_stream

__all__ = ["check_metaimage_header", "verify_metaimage_compressed"]


def check_metaimage_header(path: Path) -> Optional[Dict[str, Any]]:
    """Parse the header once and run the data-file checks.

    Returns:
        For plain compressed binary data, the plan with which
        :func:`._metaimage_voxels.read_metaimage_voxels` inflates and checks the stream in one pass
        (the caller runs :func:`verify_metaimage_compressed` instead if SimpleITK reads the header
        otherwise); ``None`` when the data was checked here (or needs no check).

    Raises:
        InputError: a data file lies outside the header's folder, ``LIST`` data is missing,
            short or declared with as many dimensions as the image, or compressed data is
            corrupt or shorter than the header announces.
    """
    fields, listed = _metaimage_header(path)
    _check_metaimage_data_files(path, fields, listed)
    _check_metaimage_list_length(path, fields, listed)
    _check_metaimage_raw_length(path, fields)
    check_metaimage_text(path, fields, _MET_TYPES.get(fields.get("elementtype", "").upper()), _local_data_offset)
    plan = _fast_plan(path, fields)
    if plan is None:
        _check_metaimage_compressed(path, fields)
    return plan


def _check_metaimage_raw_length(path: Path, fields: Dict[str, str]) -> None:
    """Refuse uncompressed ``LOCAL`` or single-file data shorter than the header announces.

    ITK refuses such a file too, but its message blames a stale system error ("Reason: No such file
    or directory") for a file that exists; this one names the bytes missing.

    Raises:
        InputError: fewer bytes after the header (and ``HeaderSize``) than DimSize x channels x
            element size.
    """
    value = fields.get("elementdatafile", "")
    item = _MET_BYTES.get(fields.get("elementtype", "").upper())
    if fields.get("compresseddata", "false").lower() in ("true", "1") or item is None or not value \
            or fields.get("binarydata", "").lower() not in ("true", "1") or value.upper().startswith("LIST") \
            or "%" in value:
        return  # compressed, text (BinaryData False) or multi-file data: checked elsewhere, or by ITK
    source = path if value.upper() == "LOCAL" else path.parent / value
    try:
        needed = math.prod(int(v) for v in fields.get("dimsize", "").split()) * item \
            * int(fields.get("elementnumberofchannels", "1") or 1)
        skip = int(fields.get("headersize", "0") or 0)
        size = source.stat().st_size
    except (ValueError, OSError):
        return  # a malformed header or a missing data file: ITK reports it
    start = _local_data_offset(path) if source == path else 0
    available = size - start - max(skip, 0)  # HeaderSize -1: the data are the file's last bytes
    if 0 < needed and available < needed:
        where = "" if source == path else f" (data file {value})"
        raise InputError(f"{path}: the voxel data{where} holds {max(available, 0):,} bytes but the header announces "
                         f"{needed:,} (DimSize {fields.get('dimsize')}, {fields.get('elementtype')}); the file is "
                         "truncated, export it again.")


#: a printf field in a MetaImage format-string data file name (``slice%03d.raw``)
_FORMAT_FIELD = re.compile(r"%[-+ #0]*\d*(?:\.\d+)?[a-zA-Z]")


def _metaimage_header(path: Path) -> Tuple[Dict[str, str], List[str]]:
    """The header fields of a MetaImage file up to ``ElementDataFile`` and the ``LIST`` names after it.

    Returns:
        ``(fields, listed)``: field name (lower case) -> value text; the non-empty lines after an
        ``ElementDataFile = LIST`` line (``[]`` for the other forms).
    """
    fields: Dict[str, str] = {}
    try:
        with open(path, "rb") as fh:
            for raw in fh:
                key, _, value = raw.decode("latin-1").partition("=")
                key = key.strip().lower()
                fields[key] = value.strip()
                if key != "elementdatafile":
                    continue
                if fields[key].upper().startswith("LIST"):
                    rest = (line.decode("latin-1").strip() for line in fh)
                    return fields, [name for name in rest if name]
                return fields, []
    except OSError as exc:
        raise InputError(f"{path}: cannot read the header ({exc}).") from None
    return fields, []


def _local_data_offset(path: Path) -> int:
    """Byte offset of ``LOCAL`` data: just after the ``ElementDataFile`` line (where MetaIO starts)."""
    with open(path, "rb") as fh:
        for raw in fh:
            if raw.decode("latin-1").partition("=")[0].strip().lower() == "elementdatafile":
                return fh.tell()
    return 0


#: (data file, size, mtime) of streams already verified: ``--frame all`` reads a 4-D file once per frame
_VERIFIED: set = set()


def _compressed_stream(path: Path, fields: Dict[str, str]) -> Optional[Tuple[Path, int, Optional[int], int]]:
    """``(file, first byte, CompressedDataSize, bytes announced)`` of compressed ``LOCAL`` or single-file data.

    ``None`` for uncompressed data, ``LIST`` or format-string data, a missing data file or a malformed
    header (ITK reports those).
    """
    if fields.get("compresseddata", "false").lower() not in ("true", "1"):
        return None
    value = fields.get("elementdatafile", "")
    item = _MET_BYTES.get(fields.get("elementtype", "").upper())
    try:
        needed = math.prod(int(v) for v in fields.get("dimsize", "").split()) * item \
            * int(fields.get("elementnumberofchannels", "1") or 1) if item else 0
        limit = int(fields["compresseddatasize"]) if fields.get("compresseddatasize") else None
    except ValueError:
        return None
    if value.upper() == "LOCAL":
        return path, _local_data_offset(path), limit, needed
    if value and not value.upper().startswith("LIST") and "%" not in value and (path.parent / value).is_file():
        return path.parent / value, 0, limit, needed
    return None


def _check_metaimage_compressed(path: Path, fields: Dict[str, str]) -> None:
    """Refuse compressed data (``LOCAL`` or one data file) that does not inflate to the announced size.

    The stream is inflated once, its output counted and dropped, and its checksum verified, reading
    at most ``CompressedDataSize`` bytes as MetaIO does.

    Raises:
        InputError: the zlib/gzip stream is corrupt, fails its checksum, or ends before
            DimSize x channels x element size bytes; ``LOCAL`` data without ``CompressedDataSize``.
    """
    stream = _compressed_stream(path, fields)
    if stream is None:
        return
    source, start, limit, needed = stream
    if source == path and not limit:
        raise InputError(f"{path}: the header has compressed LOCAL data but no CompressedDataSize, without which ITK "
                         "(and 3D Slicer) inflate the wrong bytes and return garbage voxels. Add 'CompressedDataSize "
                         f"= {path.stat().st_size - start}' to the header, or save the image again (e.g. with "
                         "SimpleITK or 3D Slicer).")
    stat = source.stat()
    key = (str(source.resolve()), start, limit, needed, stat.st_size, stat.st_mtime_ns)
    if needed <= 0 or key in _VERIFIED:
        return
    inflate_stream(path, source, start, limit, needed)
    if len(_VERIFIED) > 64:
        _VERIFIED.clear()
    _VERIFIED.add(key)


def verify_metaimage_compressed(path: Path) -> None:
    """:func:`check_metaimage_header`'s stream check, for a file whose fast-read plan SimpleITK did not confirm."""
    _check_metaimage_compressed(path, _metaimage_header(path)[0])


#: MetaIO element type -> NumPy type (MET_LONG / MET_ULONG vary by platform: left to ITK)
_MET_TYPES = {"MET_CHAR": "i1", "MET_UCHAR": "u1", "MET_SHORT": "i2", "MET_USHORT": "u2", "MET_INT": "i4",
              "MET_UINT": "u4", "MET_LONG_LONG": "i8", "MET_ULONG_LONG": "u8", "MET_FLOAT": "f4", "MET_DOUBLE": "f8"}
#: header fields that move or change voxel values in some reader: files with them are left to ITK
_VALUE_FIELDS = ("headersize", "elementtointensityfunctionslope", "elementtointensityfunctionoffset")


def _fast_plan(path: Path, fields: Dict[str, str]) -> Optional[Dict[str, Any]]:
    """What :func:`._metaimage_voxels.read_metaimage_voxels` needs, for plain compressed binary data; else ``None``."""
    stream = _compressed_stream(path, fields)
    code = _MET_TYPES.get(fields.get("elementtype", "").upper())
    if stream is None or code is None or fields.get("binarydata", "").lower() not in ("true", "1") \
            or any(name in fields for name in _VALUE_FIELDS):
        return None
    try:
        sizes = [int(v) for v in fields.get("dimsize", "").split()]
        channels = int(fields.get("elementnumberofchannels", "1") or 1)
        ndims = int(fields.get("ndims", len(sizes)))
    except ValueError:
        return None
    if not 2 <= len(sizes) <= 4 or ndims != len(sizes) or min(sizes) < 1 or channels < 1 or stream[3] <= 0:
        return None
    dtype = np.dtype(code).newbyteorder(">" if _big_endian(fields) else "<")
    source, start, limit, needed = stream
    return {"source": source, "start": start, "limit": limit, "needed": needed, "dtype": dtype, "sizes": sizes,
            "channels": channels}


def _big_endian(fields: Dict[str, str]) -> bool:
    """The byte order MetaIO (ITK, 3D Slicer) reads: ``BinaryDataByteOrderMSB`` where present, even empty, else
    ``ElementByteOrderMSB``; true when the value starts with ``T``, ``t`` or ``1`` (``T``, ``tru``), else false."""
    for name in ("binarydatabyteordermsb", "elementbyteordermsb"):
        if name in fields:
            return fields[name][:1] in ("T", "t", "1")
    return False


def _metaimage_data_names(fields: Dict[str, str], listed: List[str]) -> List[str]:
    """The data file names of a MetaImage header (:func:`_metaimage_header`); ``[]`` for LOCAL data.

    Covers the three MetaIO forms: one file name, ``LIST`` (one name per following line) and a
    format string (``slice%03d.raw min max step``, checked with the number part set to 0).
    """
    value = fields.get("elementdatafile", "")
    if not value or value.upper() == "LOCAL":
        return []
    if value.upper().startswith("LIST"):
        return [value] + listed
    if "%" in value:
        return [_FORMAT_FIELD.sub("0", value.split()[0])]
    return [value]


#: bytes per value of the MetaIO element types (MET_LONG/MET_ULONG vary by platform: not checked)
_MET_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
              "MET_FLOAT": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_DOUBLE": 8}


def _check_metaimage_list_length(path: Path, fields: Dict[str, str], listed: List[str]) -> None:
    """Refuse ``ElementDataFile = LIST`` data that is missing or shorter than the header announces.

    ITK fills what the listed files lack with whatever memory held and only prints a console
    message, so a short list would be segmented as garbage.

    Raises:
        InputError: a listed file is missing, all of them hold fewer raw bytes than
            DimSize x channels x element size, or the files are declared to have as many
            dimensions as the image (``LIST 3D`` for a 3-D image, which ITK misreads).
    """
    if not fields.get("elementdatafile", "").upper().startswith("LIST"):
        return
    if fields.get("compresseddata", "false").lower() in ("true", "1"):
        return  # compressed slices: the decoder reports short data itself
    item = _MET_BYTES.get(fields.get("elementtype", "").upper())
    try:
        sizes = [int(v) for v in fields.get("dimsize", "").split()]
        channels = int(fields.get("elementnumberofchannels", "1") or 1)
    except ValueError:
        return  # a malformed header: ITK reports it
    per_file = re.fullmatch(r"LIST\s*(\d+)\s*D?", fields["elementdatafile"].upper())
    if per_file and len(sizes) > 1 and int(per_file.group(1)) >= len(sizes):
        raise InputError(f"{path}: 'ElementDataFile = {fields['elementdatafile']}' lists {per_file.group(1)}-D files for a "
                         f"{len(sizes)}-D image, which ITK reads wrongly; name the single data file instead "
                         "(ElementDataFile = <file>), or list 2-D slice files with 'LIST 2D'.")
    if item is None or not sizes:
        return
    header_size = fields.get("headersize", "0")
    skip = max(int(header_size), 0) if header_size.lstrip("-").isdigit() else 0  # -1 (data at the end): no skip
    available = 0
    for name in listed:
        data = path.parent / name
        if not data.is_file():
            raise InputError(f"{path}: the LIST data file {name!r} does not exist; copy it next to the header, or "
                             "save the image as a single .mha file.")
        available += max(data.stat().st_size - skip, 0)
    needed = math.prod(sizes) * channels * item
    if available < needed:
        raise InputError(f"{path}: the {len(listed)} LIST data file(s) hold {available:,} bytes but the header "
                         f"announces {needed:,} (DimSize {' x '.join(map(str, sizes))}, {fields.get('elementtype')}); "
                         "files are missing or truncated, export the image again.")


def _check_metaimage_data_files(path: Path, fields: Dict[str, str], listed: List[str]) -> None:
    """Refuse a MetaImage header whose data files lie outside its folder (untrusted input).

    Raises:
        InputError: a data file (single, ``LIST`` entry or format string) resolves outside the
            folder of ``path``; a name with spaces is checked whole and word by word.
    """
    folder = path.resolve().parent
    for name in _metaimage_data_names(fields, listed):
        for candidate in {name, *name.split()}:
            if folder not in (folder / candidate).resolve().parents:
                raise InputError(
                    f"{path}: ElementDataFile {name!r} lies outside the header's folder; only data files next to "
                    "the header are read. Save the image as a single .mha file with its data inside "
                    "(ElementDataFile = LOCAL)."
                )
