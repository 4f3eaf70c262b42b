"""Text MetaImage data (``BinaryData = False``) checked against its ``ElementType`` before ITK reads it.

MetaIO reads each text value as a double and casts it to the element type: ``300`` in a ``MET_UCHAR`` file
is read as 44, ``40000`` in a ``MET_SHORT`` one as -25536, ``1.7`` as 1, a ``MET_LONG_LONG`` value
beyond 2**53 as its nearest double (9007199254740993 as ...992), and ``0x10`` or ``1,5`` as two values
(every voxel after it shifts), all without a word. Such a file is refused here by the rule shared with
ASCII NRRD (:func:`._text_voxels.check_text_voxels`), naming the value, so that the voxels segmented are
those the file holds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np

from ._text_voxels import METAIMAGE_TEXT, check_text_voxels

__all__ = ["check_metaimage_text"]


def check_metaimage_text(path: Path, fields: Dict[str, str], code: Optional[str],
                         local_offset: Callable[[Path], int]) -> None:
    """Refuse text voxel data that the element type or MetaIO's text reading would change.

    Args:
        path: the ``.mha`` / ``.mhd`` header.
        fields: its header fields (lower-case names, as :func:`._metaimage._metaimage_header` returns them).
        code: the NumPy type code of ``ElementType`` (``"u1"`` ... ``"f8"``), ``None`` when unknown.
        local_offset: gives the byte offset of ``LOCAL`` data in ``path`` (read only for text data).

    Raises:
        InputError: a value that is not a plain decimal number, or (integer types) outside the type's range,
            not a whole number, or (64-bit types) beyond what a double holds exactly; the message names the
            value, its position, the type and the remedy.
    """
    flag, value = fields.get("binarydata"), fields.get("elementdatafile", "")
    compressed = fields.get("compresseddata", "false").lower() in ("true", "1")
    if flag is None or flag[:1] in ("T", "t", "1") or code is None or code[0] not in "iuf" or not value \
            or compressed or value.upper().startswith("LIST") or "%" in value \
            or fields.get("headersize", "0").strip() not in ("", "0"):
        return  # binary, multi-file, compressed or offset data: ITK's reading stands
    source, offset = (path, local_offset(path)) if value.upper() == "LOCAL" else (path.parent / value, 0)
    try:
        count = math.prod(int(v) for v in fields.get("dimsize", "").split()) \
            * int(fields.get("elementnumberofchannels", "1") or 1)
        with open(source, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except (ValueError, OSError):
        return  # a malformed header or a missing data file: ITK reports it
    check_text_voxels(path, data, count, np.dtype(code), f"ElementType {fields.get('elementtype')}", METAIMAGE_TEXT)
