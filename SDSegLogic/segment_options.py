"""Checks of the sampling and batching options of the public segment API, before any work.

:func:`~SDSegLogic.segment.segment_array` and :class:`~SDSegLogic.pipeline.SDSegPipeline` take
counts (``batch_size``, ``num_samples``, ``num_inference_steps``), a ``seed`` and a memory
budget ``max_bytes``. A value of the wrong kind used to pass silently (``num_samples=2.5`` ran
two samples and recorded 2) or fail mid-volume with a bare ``TypeError``/``ValueError`` that
named no option. These checks raise :class:`~SDSegLogic.errors.InputError` naming the option,
the value and the remedy. Standard library only.
"""

from __future__ import annotations

import numbers
from typing import Optional

from .errors import InputError

__all__ = ["check_count", "check_seed", "check_max_bytes", "check_segment_options", "SEED_RANGE", "MAX_SAMPLES",
           "MAX_STEPS", "MAX_BATCH_SIZE", "WIRE_SEED_RANGE"]

#: seeds a ``torch.Generator`` accepts: from -2**63 to 2**64 - 1
SEED_RANGE = (-2**63, 2**64 - 1)
#: most noise samples per volume that ``sdseg segment --samples`` and the engine server accept (each sample
#: repeats every network call of the volume)
MAX_SAMPLES = 64
#: most sampling steps ``sdseg segment --steps`` and the engine server accept: a model trained with the usual
#: 1000 timesteps allows no more DDIM steps (a model with fewer allows only as many as it has)
MAX_STEPS = 1000
#: most slices per network call the engine server accepts (``batch_size``)
MAX_BATCH_SIZE = 1024
#: seeds the engine server accepts (PROTOCOL.md: ``seed`` >= 0; at most what both ends of the wire hold as a signed
#: 64-bit value)
WIRE_SEED_RANGE = (0, 2**63 - 1)

_MEANING = {
    "batch_size": "slices per network call",
    "num_samples": "noise samples averaged; 2 or more adds a variance map",
    "num_inference_steps": "1 for the paper's single step, more for DDIM",
}


def _prefix(source: str) -> str:
    return f"{source}: " if source else ""


def _whole(value) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_count(name: str, value, source: str = "") -> int:
    """``value`` as an int >= 1, or :class:`InputError` naming ``name``, the value and the remedy."""
    if not _whole(value) or int(value) < 1:
        kind = "" if _whole(value) else f" ({type(value).__name__})"
        raise InputError(f"{_prefix(source)}{name}={value!r}{kind} must be a whole number >= 1 "
                         f"({_MEANING.get(name, name)}); e.g. {name}=4.")
    return int(value)


def check_seed(seed, source: str = "") -> Optional[int]:
    """``seed`` as an int within :data:`SEED_RANGE` (``None`` stays ``None``), else :class:`InputError`."""
    if seed is None:
        return None
    low, high = SEED_RANGE
    if not _whole(seed) or not low <= int(seed) <= high:
        kind = "" if _whole(seed) else f" ({type(seed).__name__})"
        raise InputError(f"{_prefix(source)}seed={seed!r}{kind} must be a whole number from {low} to {high} "
                         "(a torch generator's seed), or None for a random one; e.g. seed=0.")
    return int(seed)


def check_max_bytes(max_bytes, source: str = "") -> Optional[int]:
    """``max_bytes`` as an int >= 1 (``None``: the default budget), else :class:`InputError`."""
    if max_bytes is None:
        return None
    if not _whole(max_bytes) or int(max_bytes) < 1:
        kind = "" if _whole(max_bytes) else f" ({type(max_bytes).__name__})"
        raise InputError(f"{_prefix(source)}max_bytes={max_bytes!r}{kind} must be a whole number of bytes >= 1, or "
                         "None for the default budget (SDSEG_MAX_BYTES, else min(8 GiB, 75 % of RAM)); e.g. "
                         "max_bytes=4 * 2**30.")
    return int(max_bytes)


def check_segment_options(source: str, *, batch_size, num_inference_steps, num_samples, seed, max_bytes) -> tuple:
    """All of the above; returns (batch_size, num_inference_steps, num_samples, seed, max_bytes) as ints (or None)."""
    return (check_count("batch_size", batch_size, source),
            check_count("num_inference_steps", num_inference_steps, source),
            check_count("num_samples", num_samples, source), check_seed(seed, source),
            check_max_bytes(max_bytes, source))
