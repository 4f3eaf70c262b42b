"""MetaImage (``.mha`` / ``.mhd``) header checks, done before SimpleITK reads the voxels.

A header names its data files (one file, a ``LIST`` of files or a printf format string). They
must lie in the header's folder (untrusted input) and hold the bytes the header announces: ITK
would read files anywhere and fill missing data with whatever memory held.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Dict, List, Tuple

from ..errors import InputError

__all__ = ["check_metaimage_header"]


def check_metaimage_header(path: Path) -> None:
    """Parse the header once and run both data-file checks.

    Raises:
        InputError: a data file lies outside the header's folder, or ``LIST`` data is missing,
            short or declared with as many dimensions as the image.
    """
    fields, listed = _metaimage_header(path)
    _check_metaimage_data_files(path, fields, listed)
    _check_metaimage_list_length(path, fields, listed)


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
