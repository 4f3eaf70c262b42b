"""The last lines of an engine log, read from its end.

An engine log is appended to for a whole session (every engine restart of a long 3D Slicer
session adds to the same file: megabytes); its last lines were found by reading and splitting
the whole file each time. :func:`tail_lines` reads blocks backwards from the end instead, just
enough of them to hold the wanted lines, and gives exactly what
``"\\n".join(text.strip().splitlines()[-lines:])`` gives for the whole file's text (UTF-8,
undecodable bytes replaced). Used by :mod:`SDSegLogic.server.process` and the Slicer module's
``engine_runner``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Optional, Union

__all__ = ["TAIL_BLOCK_BYTES", "log_tail_text", "tail_lines"]

TAIL_BLOCK_BYTES = 64 << 10  #: the first read from the end; doubled while it holds too few lines


def tail_lines(handle: BinaryIO, lines: int, block: int = TAIL_BLOCK_BYTES) -> str:
    """The last ``lines`` lines (stripped of the text's leading and trailing white space) of a seekable binary file.

    Args:
        handle: a file open for binary reading that can seek.
        lines: how many lines; ``lines <= 0`` reads the whole file (``[-0:]`` is every line).
        block: bytes of the first read from the end.

    Returns:
        The lines joined with ``"\\n"``; ``""`` for an empty or blank file.
    """
    size = handle.seek(0, os.SEEK_END)
    while True:
        start = 0 if lines <= 0 else max(0, size - block)
        handle.seek(start)
        data = handle.read(size - start)
        if start > 0:
            cut = data.find(b"\n")  # the window begins after a line break: no line or UTF-8 character is cut
            data = data[cut + 1:] if cut >= 0 else b""
        kept = data.decode("utf-8", errors="replace").strip().splitlines()
        if start == 0 or len(kept) > lines:  # one more line than wanted: the first (maybe cut by strip) is not used
            return "\n".join(kept[-lines:])
        block *= 2


def log_tail_text(path: Union[str, Path], lines: int) -> Optional[str]:
    """:func:`tail_lines` of the file at ``path``; None when it cannot be read (missing, no permission)."""
    try:
        with open(path, "rb") as handle:
            return tail_lines(handle, lines)
    except OSError:
        return None
