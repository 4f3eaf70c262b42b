"""Checks of the sampling and batching options of the public segment API, before any work.

:func:`~SDSegLogic.segment.segment_array` and :class:`~SDSegLogic.pipeline.SDSegPipeline` take
counts (``batch_size``, ``num_samples``, ``num_inference_steps``), a ``seed`` and a memory
budget ``max_bytes``. A value of the wrong kind used to pass silently (``num_samples=2.5`` ran
two samples and recorded 2) or fail mid-volume with a bare ``TypeError``/``ValueError`` that
named no option. These checks raise :class:`~SDSegLogic.errors.InputError` naming the option,
the value and the remedy. Standard library only.

One rule and one table for every caller: :func:`whole_number` (an integer, or a float with a whole
value such as 2.0, as a Slicer spin box gives it) and :data:`OPTION_LIMITS` (the range the engine
server takes and what each option is), also used by the Slicer module's ``SDSegLib.run_options``.
"""

from __future__ import annotations

import math
import numbers
from typing import Optional

from .errors import InputError

__all__ = ["check_count", "check_seed", "check_max_bytes", "check_segment_options", "whole_number", "SEED_RANGE",
           "MAX_SAMPLES", "MAX_STEPS", "MAX_BATCH_SIZE", "WIRE_SEED_RANGE", "OPTION_LIMITS"]

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

#: option -> (lowest, highest, what it is): the values the engine server takes (``SDSegLogic/server/jobs.py``) and the
#: one description of each option, in the refusals here and in the Slicer module's (``SDSegLib.run_options``)
OPTION_LIMITS = {
    "num_inference_steps": (1, MAX_STEPS, "sampling steps: 1 is the paper's single step, more run DDIM sampling"),
    "num_samples": (1, MAX_SAMPLES, "noise samples averaged; 2 or more add a variance map"),
    "batch_size": (1, MAX_BATCH_SIZE, "slices per network call; lower it when the GPU runs out of memory"),
    "seed": (*WIRE_SEED_RANGE, "the random seed"),
}


def _prefix(source: str) -> str:
    return f"{source}: " if source else ""


def whole_number(value) -> Optional[int]:
    """``value`` as an int when it is a whole number, else None.

    A whole number is an integer (Python or NumPy, not a bool) or a real number with a finite,
    integral value (``2.0``, ``np.float64(3.0)``); ``2.5``, NaN, text, None and bools are not.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):  # a Fraction beyond float range
        return None
    return int(number) if math.isfinite(number) and number.is_integer() else None


def _kind(value) -> str:
    """`` (float)`` after a value that is no whole number, to name its type; ``""`` for a whole number."""
    return "" if whole_number(value) is not None else f" ({type(value).__name__})"


def check_count(name: str, value, source: str = "") -> int:
    """``value`` as an int >= 1, or :class:`InputError` naming ``name``, the value and the remedy."""
    count = whole_number(value)
    if count is None or count < 1:
        meaning = OPTION_LIMITS[name][2] if name in OPTION_LIMITS else name
        raise InputError(f"{_prefix(source)}{name}={value!r}{_kind(value)} must be a whole number >= 1 ({meaning}); "
                         f"e.g. {name}=4.")
    return count


def check_seed(seed, source: str = "") -> Optional[int]:
    """``seed`` as an int within :data:`SEED_RANGE` (``None`` stays ``None``), else :class:`InputError`."""
    if seed is None:
        return None
    low, high = SEED_RANGE
    number = whole_number(seed)
    if number is None or not low <= number <= high:
        raise InputError(f"{_prefix(source)}seed={seed!r}{_kind(seed)} must be a whole number from {low} to {high} "
                         "(a torch generator's seed), or None for a random one; e.g. seed=0.")
    return number


def check_max_bytes(max_bytes, source: str = "") -> Optional[int]:
    """``max_bytes`` as an int >= 1 (``None``: the default budget), else :class:`InputError`."""
    if max_bytes is None:
        return None
    number = whole_number(max_bytes)
    if number is None or number < 1:
        raise InputError(f"{_prefix(source)}max_bytes={max_bytes!r}{_kind(max_bytes)} must be a whole number of bytes "
                         ">= 1, or None for the default budget (SDSEG_MAX_BYTES, else min(8 GiB, 75 % of RAM)); e.g. "
                         "max_bytes=4 * 2**30.")
    return number


def check_segment_options(source: str, *, batch_size, num_inference_steps, num_samples, seed, max_bytes) -> tuple:
    """All of the above; returns (batch_size, num_inference_steps, num_samples, seed, max_bytes) as ints (or None)."""
    return (check_count("batch_size", batch_size, source),
            check_count("num_inference_steps", num_inference_steps, source),
            check_count("num_samples", num_samples, source), check_seed(seed, source),
            check_max_bytes(max_bytes, source))
