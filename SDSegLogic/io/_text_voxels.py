"""One rule for text voxel data (ASCII NRRD, MetaImage ``BinaryData = False``): refuse values the readers would change.

The readers change text values without a word: an integer type wraps ``300`` in a ``uchar`` to 44 and
``40000`` in a ``short`` to -25536; MetaIO cuts ``1.7`` to 1, reads a 64-bit value beyond 2**53 through a
double, and reads a token such as ``0x10`` or ``1,5`` as two values, so that every voxel after it shifts
by one; NumPy (pynrrd) saturates an ``int64`` beyond its range; ITK reads ``1e2`` in an integer NRRD as 1.
Both text readers call :func:`check_text_voxels` with the facts of their format (:data:`NRRD_TEXT`,
:data:`METAIMAGE_TEXT`), and the message has one wording for both.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import InputError

__all__ = ["TextRules", "NRRD_TEXT", "METAIMAGE_TEXT", "check_text_voxels"]

_DECIMAL = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_NONFINITE = r"[+-]?(?:nan|inf|infinity)"
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(f"{_DECIMAL}|{_NONFINITE}", re.IGNORECASE)
_INTEGER_BYTES = np.zeros(256, dtype=bool)  # what a text of plain integers holds: digits, signs, white space
_INTEGER_BYTES[list(b"0123456789+- \t\n\r\v\f")] = True
_FLOAT_BYTES = _INTEGER_BYTES.copy()  # ... and of plain decimal numbers: a point and an exponent
_FLOAT_BYTES[list(b".eE")] = True


@dataclass(frozen=True)
class TextRules:
    """What a format's text reader does with a value (the facts that differ between the two formats).

    Attributes:
        type_field: the header field naming the voxel type, for the remedy (``"the header's type"``).
        float_example: a floating-point type in that field's spelling (``"'float'"``).
        wide_example: a wider integer type in that field's spelling (``"'int'"``).
        integers_as_written: integer types need each value written as an integer (``7``, not ``7.0`` or
            ``7e0``), because the format's reader reads such spellings as another value or refuses them.
        through_double: the reader parses every value as a double, so 64-bit values beyond 2**53 change.
        nonfinite_floats: floating-point types may hold ``nan``/``inf`` written as such.
    """

    type_field: str
    float_example: str
    wide_example: str
    integers_as_written: bool
    through_double: bool
    nonfinite_floats: bool


NRRD_TEXT = TextRules("the header's type", "'float'", "'int'", integers_as_written=True, through_double=False,
                      nonfinite_floats=True)
METAIMAGE_TEXT = TextRules("ElementType", "MET_FLOAT", "MET_INT", integers_as_written=False, through_double=True,
                           nonfinite_floats=False)


def check_text_voxels(path: Path, data: bytes, count: int, dtype: np.dtype, kind: str, rules: TextRules) -> None:
    """Refuse the first text value that the format's reader would not read as the number written.

    Args:
        path: the file named in the message (the header).
        data: the text data (whitespace-separated values; anything after the first ``count`` is ignored).
        count: the values the image holds.
        dtype: the voxel type (integer or floating point; others are not checked).
        kind: the type as the header writes it, for the message (``"'uchar'"``, ``"ElementType MET_UCHAR"``).
        rules: the format's facts (:data:`NRRD_TEXT`, :data:`METAIMAGE_TEXT`).

    Raises:
        InputError: naming the value, its position (1-based), the type and the remedy.
    """
    if dtype.kind not in "iuf" or count < 1 or _all_fine(data, count, dtype):
        return
    for position, match in enumerate(re.finditer(rb"\S+", data), 1):  # one value at a time: no list of them all
        if position > count:
            return
        token = match.group().decode("latin-1")
        problem = _problem(token, dtype, kind, rules)
        if problem is not None:
            raise InputError(f"{path}: the text voxel data holds {token} (value #{position}), {problem}.")


def _all_fine(data: bytes, count: int, dtype: np.dtype) -> bool:
    """Whether the first ``count`` values are plainly fine: the common case, checked by NumPy without a Python loop.

    ``False`` sends the data to the value-by-value check, which names the first problem (or finds none: a
    spelling such as ``2.0`` or ``nan`` that this check does not vouch for, or data shorter than ``count``).
    """
    allowed = _FLOAT_BYTES if dtype.kind == "f" else _INTEGER_BYTES
    if not allowed[np.frombuffer(data, dtype=np.uint8)].all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # NumPy's "could not be read to its end"
        try:
            values = np.fromstring(data.decode("latin-1"), dtype=np.float64, sep=" ")[:count]
        except (ValueError, DeprecationWarning):
            return False
    if values.size < count or not np.all(np.isfinite(values)):
        return False
    if dtype.kind == "f":
        return True
    info = np.iinfo(dtype)
    if dtype.itemsize <= 4:  # a double holds every value of these types, and names any outside them
        return bool(values.min() >= info.min and values.max() <= info.max)
    limit = 2.0 ** 53  # wider types: only values a double surely held exactly (2**53 + 1 parses as 2**53)
    return bool(values.min() > max(-limit, info.min - 1) and values.max() < limit)


def _problem(token: str, dtype: np.dtype, kind: str, rules: TextRules) -> Optional[str]:
    """Why the reader would not read ``token`` as written (``None``: it would)."""
    if _NUMBER.fullmatch(token) is None or (dtype.kind == "f" and not rules.nonfinite_floats
                                            and not math.isfinite(float(token))):
        return (f"not a plain decimal number, which text readers of its type {kind} misread (and may shift every "
                "voxel after it); write plain decimal numbers, or save the image with binary data")
    if dtype.kind == "f":
        return None
    remedy = f"fix {rules.type_field} (e.g. {rules.float_example})"
    spelled = _INTEGER.fullmatch(token) is not None
    if not spelled and token.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return f"not a finite number, but its type {kind} holds integers; {remedy} or the data"
    value = Decimal(token)  # exact, whatever the spelling (2.0, 1e2, 9007199254740993.0)
    info = np.iinfo(dtype)
    out_of_range = (f"outside the range of its type {kind} ({info.min}..{info.max}); it would be read as another "
                    f"value. Fix {rules.type_field} (e.g. {rules.wide_example}) or the data")
    if abs(value) > 2 ** 64:  # decided before any exact integer of a huge exponent is built
        return out_of_range
    if value != value.to_integral_value():
        return f"not a whole number, but its type {kind} holds integers; {remedy} or round the data"
    exact = int(value)
    if not info.min <= exact <= info.max:
        return out_of_range
    if not spelled and rules.integers_as_written:
        return (f"a whole number not written as an integer, which readers of its type {kind} read as another value "
                "(ITK reads 1e2 as 1) or refuse; write it as an integer")
    if rules.through_double and dtype.itemsize == 8 and float(exact) != exact:
        return (f"beyond what the text reading of its type {kind} (through a double) holds exactly; save the image "
                "with BinaryData = True")
    return None
