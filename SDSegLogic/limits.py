"""Memory limits shared by the readers and the volume pipeline.

The budget is the number of bytes the engine may allocate for one image and its working copies.
It defaults to the smaller of 8 GiB and 75 % of physical memory, and can be set with the
environment variable ``SDSEG_MAX_BYTES`` (an integer number of bytes) or per call.
"""

from __future__ import annotations

import os
from typing import Optional

from .errors import InputError

__all__ = ["default_memory_budget", "format_bytes", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 8 * 1024 ** 3


def _physical_memory() -> Optional[int]:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def default_memory_budget() -> int:
    """Bytes one segmentation may use: ``$SDSEG_MAX_BYTES``, else min(8 GiB, 75 % of RAM)."""
    text = os.environ.get("SDSEG_MAX_BYTES")
    if text:
        try:
            value = int(text)
        except ValueError:
            raise InputError(f"SDSEG_MAX_BYTES={text!r} is not an integer number of bytes; fix or unset it.") from None
        if value <= 0:
            raise InputError(f"SDSEG_MAX_BYTES={value} must be positive; fix or unset it.")
        return value
    physical = _physical_memory()
    return min(DEFAULT_MAX_BYTES, int(physical * 0.75)) if physical else DEFAULT_MAX_BYTES


def format_bytes(n: float) -> str:
    """Human-readable size, e.g. ``'1.5 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024.0
    return f"{n:.1f} TiB"
