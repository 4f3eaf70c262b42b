"""Memory limits shared by the readers and the volume pipeline.

The budget is the number of bytes the engine may allocate for one image and its working copies.
It defaults to the smaller of 8 GiB and 75 % of the memory this process may use: physical RAM,
or the container's cgroup memory limit when that is smaller (cgroup v2 ``memory.max``, v1
``memory/memory.limit_in_bytes``; a container sees the host's RAM in ``sysconf`` but is killed at
its cgroup limit). It can be set with the environment variable ``SDSEG_MAX_BYTES`` (an integer
number of bytes) or per call.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Optional, Union

from .errors import InputError

__all__ = ["default_memory_budget", "available_memory", "cgroup_memory_limit", "format_bytes", "DEFAULT_MAX_BYTES",
           "CGROUP_ROOT", "PROC_SELF_CGROUP"]

DEFAULT_MAX_BYTES = 8 * 1024 ** 3
#: Where the cgroup file systems are mounted on Linux.
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: The cgroup membership of this process (one ``id:controllers:path`` line per hierarchy).
PROC_SELF_CGROUP = Path("/proc/self/cgroup")

PathLike = Union[str, "os.PathLike[str]"]
#: cgroup v1 writes "no limit" as the largest page-aligned signed 64-bit number (9223372036854771712).
_NO_LIMIT = 2 ** 62


def _physical_memory() -> Optional[int]:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def _read_limit(path: Path) -> Optional[int]:
    """A cgroup limit file as bytes; None when absent, unreadable, ``max`` (no limit) or not a positive integer."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    try:
        value = int(text)
    except ValueError:
        return None  # "max": no limit
    return value if 0 < value < _NO_LIMIT else None


def _own_cgroup_files(root: Path, proc_cgroup: Optional[Path]) -> Iterator[Path]:
    """Limit files of this process's memory cgroup and of its ancestors (a parent's limit applies too)."""
    if proc_cgroup is None:
        return
    try:
        lines = Path(proc_cgroup).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            base, name = root, "memory.max"  # cgroup v2 (unified)
        elif "memory" in controllers.split(","):
            base, name = root / "memory", "memory.limit_in_bytes"  # cgroup v1 memory controller
        else:
            continue
        relative = Path(path.strip().lstrip("/"))
        while relative.parts and ".." not in relative.parts:
            yield base / relative / name
            relative = relative.parent


def cgroup_memory_limit(root: PathLike = CGROUP_ROOT, proc_cgroup: Optional[PathLike] = PROC_SELF_CGROUP) -> Optional[int]:
    """The smallest cgroup memory limit that applies to this process, in bytes, or None.

    Reads ``<root>/memory.max`` (cgroup v2, the container's own cgroup under a cgroup namespace)
    and ``<root>/memory/memory.limit_in_bytes`` (cgroup v1), and the same files in this process's
    cgroup and its ancestors as listed in ``proc_cgroup`` (containers that share the host's
    cgroup namespace). ``max`` (v2) and the huge v1 value 9223372036854771712 mean no limit.

    Args:
        root: where the cgroup file systems are mounted (a temporary tree in tests).
        proc_cgroup: this process's cgroup membership file, or None to read only ``root``.

    Returns:
        The limit in bytes, or None when no file sets one (not Linux, no cgroup, no limit).
    """
    root = Path(root)
    candidates = [root / "memory.max", root / "memory" / "memory.limit_in_bytes"]
    candidates += _own_cgroup_files(root, None if proc_cgroup is None else Path(proc_cgroup))
    limits = [limit for limit in map(_read_limit, candidates) if limit is not None]
    return min(limits) if limits else None


def available_memory(cgroup_root: PathLike = CGROUP_ROOT,
                     proc_cgroup: Optional[PathLike] = PROC_SELF_CGROUP) -> Optional[int]:
    """Bytes this process may use: the smaller of physical RAM and the cgroup limit (None if neither is known)."""
    sizes = [size for size in (_physical_memory(), cgroup_memory_limit(cgroup_root, proc_cgroup)) if size]
    return min(sizes) if sizes else None


def default_memory_budget(cgroup_root: PathLike = CGROUP_ROOT,
                          proc_cgroup: Optional[PathLike] = PROC_SELF_CGROUP) -> int:
    """Bytes one segmentation may use: ``$SDSEG_MAX_BYTES``, else min(8 GiB, 75 % of :func:`available_memory`).

    Args:
        cgroup_root, proc_cgroup: as in :func:`cgroup_memory_limit` (tests point them at a temporary tree).

    Raises:
        InputError: ``SDSEG_MAX_BYTES`` is set but not a positive integer.
    """
    text = os.environ.get("SDSEG_MAX_BYTES")
    if text:
        try:
            value = int(text)
        except ValueError:
            raise InputError(f"SDSEG_MAX_BYTES={text!r} is not an integer number of bytes; fix or unset it.") from None
        if value <= 0:
            raise InputError(f"SDSEG_MAX_BYTES={value} must be positive; fix or unset it.")
        return value
    memory = available_memory(cgroup_root, proc_cgroup)
    return min(DEFAULT_MAX_BYTES, int(memory * 0.75)) if memory else DEFAULT_MAX_BYTES


def format_bytes(n: float) -> str:
    """Human-readable size, e.g. ``'1.5 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024.0
    return f"{n:.1f} TiB"
