"""The deflate (gzip) implementation the readers and writers use: zlib-ng when installed, else zlib.

`zlib-ng <https://pypi.org/project/zlib-ng/>`_ (a dependency of the package, PSF licence) is a
drop-in replacement for the standard :mod:`zlib` and :mod:`gzip` modules whose inflate is about
twice and whose deflate (level 6) about three times as fast on this project's CT volumes
(``benchmarks/bench_read.py``). The output of either is standard gzip; only the compressed bytes
of a written file differ. Without zlib-ng (a hand-made environment) everything still works with
the standard library, more slowly.

Set ``SDSEG_DEFLATE=zlib`` to force the standard library (for comparisons and bug reports).
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from types import ModuleType
from typing import IO, Iterator, Optional, Tuple

__all__ = ["implementation", "zlib_module", "gzip_open", "stream_errors", "zlib_errors", "select", "GzipMembers"]

_zlib: ModuleType = zlib
_gzip: ModuleType = gzip
_name = "zlib"


def select(name: str) -> str:
    """Use ``"zlib-ng"`` (if importable, else zlib) or ``"zlib"`` from now on; returns the one in use."""
    global _zlib, _gzip, _name
    if name not in ("zlib-ng", "zlib"):
        raise ValueError(f"deflate implementation {name!r}: choose 'zlib-ng' or 'zlib'.")
    _zlib, _gzip, _name = zlib, gzip, "zlib"
    if name == "zlib-ng":
        try:
            from zlib_ng import gzip_ng, zlib_ng
        except ImportError:
            pass
        else:
            _zlib, _gzip, _name = zlib_ng, gzip_ng, "zlib-ng"
    return _name


def implementation() -> str:
    """``"zlib-ng"`` or ``"zlib"``: what :func:`zlib_module` and :func:`gzip_open` use now."""
    return _name


def zlib_module() -> ModuleType:
    """The :mod:`zlib`-compatible module in use (``compressobj``, ``decompressobj``, ``crc32``, ``error``)."""
    return _zlib


def zlib_errors() -> Tuple[type, ...]:
    """The ``error`` classes of the standard zlib and of the implementation in use (corrupt data)."""
    return (zlib.error, _zlib.error)


def stream_errors() -> Tuple[type, ...]:
    """What reading a corrupt or truncated gzip file raises (``OSError`` covers ``BadGzipFile``)."""
    return (OSError, EOFError) + zlib_errors()


def gzip_open(path: Path) -> IO[bytes]:
    """Open a gzip file for reading with the implementation in use (the :func:`gzip.open` interface)."""
    return _gzip.open(path, "rb")



class GzipMembers:
    """The inflated bytes of every gzip member of a file from its current position, piece by piece.

    A multi-member stream (``cat a.gz b.gz``, bgzip, parallel pigz) is read member after member, as
    ITK (and so 3D Slicer) reads it. Iterating yields ``bytes`` pieces of at most ``piece`` bytes
    that add up to ``needed`` bytes at most; ``total`` counts them and ``complete`` says whether the
    last member read ended with its end-of-stream marker (zlib then has checked its CRC-32).

    Args:
        fh: a binary file positioned at the first member.
        where: the file named in messages.
        needed: bytes the header announces: reading stops after the member that completes them, and
            that member must end right after them (its trailer only). ``None``: every member to the
            end of the file.
        piece: compressed bytes read, and at most inflated bytes yielded, per step.

    Raises:
        InputError (from ``SDSegLogic.errors``): a corrupt stream, or more data in the member that
            completes ``needed`` bytes. A stream that ends early is left to the caller (``total``,
            ``complete``), which knows what the header announced.
    """

    def __init__(self, fh: IO[bytes], where: str, needed: Optional[int], piece: int = 1 << 22) -> None:
        self._fh, self._where, self._needed, self._piece = fh, where, needed, piece
        self.total = 0
        self.complete = False

    def _error(self, what: str) -> Exception:
        from ..errors import InputError

        return InputError(f"{self._where}: {what}; the file is truncated or corrupt, re-export it.")

    def __iter__(self) -> Iterator[bytes]:
        make = lambda: _zlib.decompressobj(zlib.MAX_WBITS | 16)  # noqa: E731
        needed, inflater, data = self._needed, make(), b""
        try:
            while needed is None or self.total < needed:
                if not data:
                    data = self._fh.read(self._piece)
                    if not data:
                        break
                if inflater.eof:  # the next member
                    inflater = make()
                room = self._piece if needed is None else min(self._piece, needed - self.total)
                chunk = inflater.decompress(data, room)
                data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
                if chunk:
                    self.total += len(chunk)
                    yield chunk
            while needed is not None and self.total >= needed and not inflater.eof:
                if not data:  # all bytes are in: the rest of the member must be its trailer
                    data = self._fh.read(self._piece)
                    if not data:
                        break
                if inflater.decompress(data, 1):
                    raise self._error(f"the gzip data holds more than the {needed:,} bytes its header announces")
                data = inflater.unconsumed_tail
        except zlib_errors() as exc:
            raise self._error(f"the gzip data cannot be read ({exc})") from None
        self.complete = inflater.eof


select("zlib" if os.environ.get("SDSEG_DEFLATE", "").strip().lower() == "zlib" else "zlib-ng")
