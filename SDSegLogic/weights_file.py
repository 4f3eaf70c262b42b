"""Write safetensors weight files that are byte-for-byte reproducible.

``safetensors`` stores the ``metadata`` dictionary through a hash map whose order changes from one
process to the next, so exporting the same tensors twice could give files with different sha256
digests (the digests are recorded in each model card). The writer here puts the header's metadata
entries in sorted key order after saving, which makes the bytes depend on the tensors and metadata
only.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Dict, Mapping, Optional, Union

__all__ = ["save_safetensors_reproducibly", "sort_header_metadata"]

_METADATA_KEY = "__metadata__"


def save_safetensors_reproducibly(tensors: Mapping[str, "object"], path: Union[str, Path],
                                  metadata: Optional[Dict[str, str]] = None) -> None:
    """Save tensors with ``safetensors`` and make the file's bytes reproducible.

    Args:
        tensors: name -> contiguous CPU ``torch.Tensor`` (any dtype, any shape).
        path: destination file (written in place; callers needing atomicity pass a temporary
            path and rename it).
        metadata: string -> string entries stored in the header, written in sorted key order.
    """
    from safetensors.torch import save_file

    save_file(dict(tensors), str(path), metadata=metadata)
    if metadata and len(metadata) > 1:
        sort_header_metadata(path)


def sort_header_metadata(path: Union[str, Path]) -> bool:
    """Rewrite a safetensors header in place with its metadata entries in sorted key order.

    The header is ``u64 little-endian length`` followed by that many bytes of JSON (space padded).
    Reordering entries keeps the JSON's length, so the tensor data does not move.

    Args:
        path: an existing ``.safetensors`` file.

    Returns:
        True when the header was rewritten, False when it was already in order or has no metadata.

    Raises:
        ValueError: naming the file, when the header cannot be parsed or the reordered header
            would not fit the space the original one occupies.
    """
    path = Path(path)
    with open(path, "r+b") as handle:
        raw_length = handle.read(8)
        if len(raw_length) != 8:
            raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length).")
        (length,) = struct.unpack("<Q", raw_length)
        header_bytes = handle.read(length)
        if len(header_bytes) != length:
            raise ValueError(f"{path}: truncated safetensors header ({len(header_bytes)} of {length} bytes).")
        try:
            header = json.loads(header_bytes.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: the safetensors header is not valid JSON ({exc}).") from exc
        metadata = header.get(_METADATA_KEY)
        if not isinstance(metadata, dict) or list(metadata) == sorted(metadata):
            return False
        reordered = {key: (dict(sorted(value.items())) if key == _METADATA_KEY else value)
                     for key, value in header.items()}
        new_bytes = json.dumps(reordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if len(new_bytes) > length:
            raise ValueError(f"{path}: the reordered safetensors header ({len(new_bytes)} bytes) does not fit "
                             f"the original {length} bytes; the file was left unchanged.")
        handle.seek(8)
        handle.write(new_bytes + b" " * (length - len(new_bytes)))
    return True
