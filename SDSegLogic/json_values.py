"""Type checks of values read from JSON (model cards, config.json), shared by their validators.

Python's ``json`` gives ``True`` for ``true`` (a ``bool`` is an ``int``) and accepts ``Infinity``
and ``NaN``, so ``isinstance(value, int)`` alone lets a flag pass as a count and an infinite
window bound pass as a number.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["is_integer", "is_finite_number"]


def is_integer(value: Any) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """A finite real number (int, float or NumPy scalar), not a bool or a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
