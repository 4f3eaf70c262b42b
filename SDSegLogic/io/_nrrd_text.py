"""The text of a NRRD header as Teem (ITK, 3D Slicer) reads it, and where the data start.

pynrrd parses the header; lines it would refuse although Teem reads them are tidied first
(:func:`_header_lines`). The data offset is counted as pynrrd counts it: after the first blank line
that is not a comment, then any ``line skip`` lines.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import InputError

__all__ = ["_header_lines", "_data_offset", "_raw_data_start", "refuse_split_data"]


def _header_lines(path: Path) -> Tuple[List[bytes], bool]:
    """The header lines up to the blank line, written as pynrrd parses them and Teem (ITK, 3D Slicer) reads them.

    Teem allows spaces inside a vector (``(1, 0, 0)``, as Python prints a tuple) and reads the
    values of ``type``, ``encoding`` and ``endian`` in any case; pynrrd refuses both.

    Returns:
        ``(lines, tidied)``: the lines, and whether any was rewritten.
    """
    lines: List[bytes] = []
    tidied = False
    with open(path, "rb") as fh:
        for raw in fh:
            line, field = raw, _FIELD.match(raw)
            if field is not None and field[1].lower() in (b"space directions", b"space origin", b"measurement frame"):
                line = field[0] + _VECTOR.sub(lambda m: b"(" + re.sub(rb"\s+", b"", m[1]) + b")", raw[field.end():])
            elif field is not None and field[1].lower() in (b"type", b"encoding", b"endian"):
                line = raw.lower()
            tidied = tidied or line != raw
            lines.append(line)
            if len(lines) > 1 and not line.startswith(b"#") and not line.strip():
                break
    return lines, tidied


_FIELD = re.compile(rb"([^:#][^:]*?)\s*:(?!=)")  # a field (not a key:=value pair) and its colon
_DATA_FILE = re.compile(rb"data ?file\s*:(?!=)\s*(.*?)\s*$", re.IGNORECASE)
_VECTOR = re.compile(rb"\(([^)]*)\)")


def _data_offset(path: Path) -> int:
    """Byte offset of attached data: after the first blank line, counted as pynrrd counts it."""
    with open(path, "rb") as fh:
        fh.readline()  # magic
        while True:
            line = fh.readline()
            if not line:
                raise InputError(f"{path}: the NRRD header has no blank line before the data; the file is truncated.")
            if not line.startswith(b"#") and line.rstrip() == b"":
                return fh.tell()


def _raw_data_start(path: Path, header: Dict[str, Any]) -> Optional[Tuple[Path, int]]:
    """(file, first byte the data may occupy) of raw data: after the header and any skipped lines."""
    data_file = header.get("data file") or header.get("datafile")
    if data_file is None:
        source, start = path, _data_offset(path)
    elif isinstance(data_file, str) and "%" not in data_file and not data_file.upper().startswith("LIST"):
        source, start = path.parent / data_file, 0
        if not source.is_file():
            return None  # pynrrd reports the missing file
    else:
        return None  # multi-file data: pynrrd refuses it
    lines = int(header.get("line skip", header.get("lineskip", 0)) or 0)
    if lines > 0:
        with open(source, "rb") as fh:
            fh.seek(start)
            for _ in range(lines):
                fh.readline()
            start = fh.tell()
    return source, start


def refuse_split_data(path: Path, lines: List[bytes]) -> None:
    """Refuse (InputError) a detached header whose data are spread over several files.

    Teem (ITK, 3D Slicer) reads ``data file: LIST`` (one name a line after it) and ``data file: <format with
    %d> <min> <max> <step> [<subdim>]``; this reader reads one data file, and would otherwise call such a
    valid header truncated or corrupt.

    Args:
        lines: the header lines (:func:`_header_lines`).
    """
    for line in lines:
        found = _DATA_FILE.match(line)
        if found is None:
            continue
        words = found[1].decode("latin-1").split()
        pattern = len(words) >= 4 and "%" in words[0] and all(re.fullmatch(r"[+-]?\d+", w) for w in words[1:4])
        if (words and words[0].upper() == "LIST") or pattern:
            raise InputError(f"{path}: the detached header spreads its data over several files ('data file: "
                             f"{' '.join(words)}'); only a single data file is read. Open the .nhdr in 3D Slicer "
                             "and save it as one .nrrd file (or join the data files into one).")
        return
