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
from typing import IO, Tuple

__all__ = ["implementation", "zlib_module", "gzip_open", "stream_errors", "zlib_errors", "select"]

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


select("zlib" if os.environ.get("SDSEG_DEFLATE", "").strip().lower() == "zlib" else "zlib-ng")
