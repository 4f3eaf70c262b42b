"""Text MetaImage data (``BinaryData = False``) checked against its integer ``ElementType`` before ITK reads it.

MetaIO reads each text value as a double and casts it to the element type: ``300`` in a ``MET_UCHAR`` file
is read as 44, ``40000`` in a ``MET_SHORT`` one as -25536, ``1.7`` as 1, and a ``MET_LONG_LONG`` value
beyond 2**53 as its nearest double (9007199254740993 as ...992), all without a word. Such a file is
refused here, naming the value, so that the voxels segmented are those the file holds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np

from ..errors import InputError

__all__ = ["check_metaimage_text"]


def check_metaimage_text(path: Path, fields: Dict[str, str], code: Optional[str],
                         local_offset: Callable[[Path], int]) -> None:
    """Refuse text voxel data that an integer element type would change when read.

    Args:
        path: the ``.mha`` / ``.mhd`` header.
        fields: its header fields (lower-case names, as :func:`._metaimage._metaimage_header` returns them).
        code: the NumPy type code of ``ElementType`` (``"u1"`` ... ``"f8"``), ``None`` when unknown.
        local_offset: gives the byte offset of ``LOCAL`` data in ``path`` (read only for text data).

    Raises:
        InputError: a value outside the type's range, not a whole number, or (64-bit types) beyond
            what a double holds exactly; the message names the value, its position, the type and the remedy.
    """
    flag, value = fields.get("binarydata"), fields.get("elementdatafile", "")
    compressed = fields.get("compresseddata", "false").lower() in ("true", "1")
    if flag is None or flag[:1] in ("T", "t", "1") or code is None or code[0] not in "iu" or not value or compressed \
            or value.upper().startswith("LIST") or "%" in value or fields.get("headersize", "0").strip() not in ("", "0"):
        return  # binary, floating-point, multi-file, compressed or offset data: ITK's reading stands
    source, offset = (path, local_offset(path)) if value.upper() == "LOCAL" else (path.parent / value, 0)
    try:
        count = math.prod(int(v) for v in fields.get("dimsize", "").split()) \
            * int(fields.get("elementnumberofchannels", "1") or 1)
        with open(source, "rb") as fh:
            fh.seek(offset)
            tokens = fh.read().decode("latin-1").split()[:count]
    except (ValueError, OSError):
        return  # a malformed header or a missing data file: ITK reports it
    dtype = np.dtype(code)
    info = np.iinfo(dtype)
    first = 1
    if dtype.itemsize <= 4:  # a double holds every value of these types: NumPy finds the first wrong one at once
        try:
            values = np.array(tokens, dtype=np.float64)
        except ValueError:
            return  # not a number at all: ITK's own message
        with np.errstate(invalid="ignore"):
            wrong = np.flatnonzero(~np.isfinite(values) | (values != np.floor(values)) | (values < info.min)
                                   | (values > info.max))
        first = int(wrong[0]) + 1 if wrong.size else 1
        tokens = [tokens[first - 1]] if wrong.size else []
    for position, token in enumerate(tokens, first):
        try:
            number = float(token)
        except ValueError:
            return  # not a number at all: ITK's own message
        exact = _exact_integer(token)
        problem = None
        if exact is None and (not math.isfinite(number) or not number.is_integer()):
            problem = "not a whole number, but the type holds integers; fix ElementType (e.g. MET_FLOAT) or the data"
        elif not info.min <= (exact if exact is not None else int(number)) <= info.max:
            problem = (f"outside the range of the type ({info.min}..{info.max}); it would be read wrapped to another "
                       "value. Fix ElementType (e.g. MET_INT) or the data")
        elif dtype.itemsize == 8 and exact is not None and float(exact) != exact:
            problem = ("beyond what ITK's text reading (through a double) holds exactly; save the image with "
                       "BinaryData = True")
        if problem is not None:
            raise InputError(f"{path}: the text voxel data holds {token} (value #{position}) for ElementType "
                             f"{fields.get('elementtype')}: {problem}.")


def _exact_integer(token: str) -> Optional[int]:
    """The token as an exact integer, or ``None`` when it is not written as one (``1e3``, ``2.0``)."""
    try:
        return int(token)
    except ValueError:
        return None
