"""Compressed MetaImage voxels inflated once, with exactly SimpleITK's values.

A compressed ``.mha`` / ``.mhd`` must be inflated completely before ITK reads it, because ITK only
prints "Uncompress failed" on a corrupt stream and returns garbage voxels (:mod:`._metaimage`).
ITK then inflated it a second time; on a 512 x 512 x 200 CT the check was close to half the read.
Here the checking pass fills the voxel buffer as it goes, and SimpleITK reads only the header
(geometry, size and pixel type, compared with the header's before the voxels are trusted).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..errors import InputError
from ._deflate import zlib_errors, zlib_module

__all__ = ["inflate_stream", "read_metaimage_voxels"]

#: compressed bytes read, and at most bytes inflated, per step
_PIECE = 1 << 22


def inflate_stream(path: Path, source: Path, start: int, limit: Optional[int], needed: int,
                   out: Optional[np.ndarray] = None) -> None:
    """Inflate the zlib or gzip stream of ``source`` from byte ``start`` to its end, checking it as MetaIO cannot.

    Args:
        path: the header, named in messages.
        source: the file holding the stream (``path`` for ``LOCAL`` data).
        limit: ``CompressedDataSize``: read at most this many compressed bytes (``None``: to the end).
        needed: bytes the header announces (DimSize x channels x element size).
        out: uint8 buffer receiving the first ``out.size`` inflated bytes; ``None`` counts and drops them.

    Raises:
        InputError: the stream is corrupt, fails its checksum, is cut short, or inflates to fewer than
            ``needed`` bytes.
    """
    view = memoryview(out).cast("B") if out is not None else None
    inflater = zlib_module().decompressobj(zlib.MAX_WBITS | 32)  # zlib or gzip wrapper, as MetaIO accepts
    produced, remaining = 0, limit if limit is not None and limit > 0 else None
    with open(source, "rb") as fh:
        fh.seek(start)
        try:
            while not inflater.eof:
                piece = fh.read(_PIECE if remaining is None else min(_PIECE, remaining))
                if not piece:
                    break
                if remaining is not None:
                    remaining -= len(piece)
                while piece and not inflater.eof:
                    chunk = inflater.decompress(piece, _PIECE)
                    if view is not None and produced < len(view):
                        take = min(len(chunk), len(view) - produced)
                        view[produced:produced + take] = chunk[:take]
                    produced += len(chunk)
                    piece = inflater.unconsumed_tail
        except zlib_errors() as exc:
            raise InputError(f"{path}: the compressed voxel data is corrupt ({exc}); ITK would read garbage. "
                             "Export the image again.") from None
    where = "" if source == path else f" (data file {source.name})"
    if not inflater.eof:
        raise InputError(f"{path}: the compressed voxel data{where} is cut short (it ends before its end-of-stream "
                         "marker); the file is truncated, export it again.")
    if produced < needed:
        raise InputError(f"{path}: the compressed voxel data{where} inflates to {produced:,} bytes but the header "
                         f"announces {needed:,}; the file is truncated or corrupt, export it again.")


def read_metaimage_voxels(path: Path, plan: Dict[str, Any]) -> np.ndarray:
    """The voxels of a compressed MetaImage (:func:`._metaimage.check_metaimage_header`'s plan), inflated once.

    Args:
        path: the ``.mha`` / ``.mhd`` header.
        plan: ``source``, ``start``, ``limit``, ``needed`` (the stream), ``dtype`` (element type in
            the file's byte order), ``sizes`` (DimSize, x first) and ``channels``.

    Returns:
        Writable array in native byte order, shaped as ``SimpleITK.GetArrayFromImage`` shapes it:
        ``sizes`` reversed (K, J, I or T, K, J, I; J, I for 2-D), plus a trailing channel axis when
        ``channels`` > 1.

    Raises:
        InputError: see :func:`inflate_stream`; a header claiming more memory than the machine has.
    """
    try:
        buffer = np.empty(plan["needed"], dtype=np.uint8)
    except MemoryError:
        raise InputError(f"{path}: the header announces {plan['needed']:,} bytes of voxels, more than this machine "
                         "can allocate; check the file (a corrupt header?) or crop the image first.") from None
    inflate_stream(path, plan["source"], plan["start"], plan["limit"], plan["needed"], buffer)
    shape = tuple(plan["sizes"][::-1]) + ((plan["channels"],) if plan["channels"] > 1 else ())
    voxels = buffer.view(plan["dtype"]).reshape(shape)
    return voxels if plan["dtype"].isnative else voxels.astype(plan["dtype"].newbyteorder("="))
