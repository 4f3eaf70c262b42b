"""The rule for a ``segment`` request's whole-number options, on both ends of the wire.

The engine (:mod:`SDSegLogic.server.jobs`) and the reference client
(:func:`SDSegLogic.server.client_job.segment_options`) judge ``num_inference_steps``, ``num_samples``,
``batch_size``, ``seed`` and the ``slices`` bounds with the rule and the table of
:mod:`SDSegLogic.segment_options`, as the segment API and the Slicer module do: a whole number
(``2`` or ``2.0``, never ``2.5``, ``true`` or ``"2"``), and for the first four a value within
:data:`~SDSegLogic.segment_options.OPTION_LIMITS`, described in that table's words. Standard library only.
"""

from __future__ import annotations

from typing import Any, Optional

from ..errors import InputError
from ..segment_options import OPTION_LIMITS, whole_number
from .wire_values import short_repr

__all__ = ["option_number", "refuse_option"]


def refuse_option(key: str, value: Any, where: str = "option") -> InputError:
    """The refusal of ``value`` for the whole-number option ``key``: its value, type, range and meaning, and an example."""
    low, high, meaning = OPTION_LIMITS[key]
    kind = "" if whole_number(value) is not None else f" ({type(value).__name__})"
    return InputError(f"{where} {key}={short_repr(value, 40)}{kind} must be a whole number from {low} to {high} "
                      f"({meaning}); e.g. {key}={low}.")


def option_number(key: str, value: Any, check_range: bool = True, where: str = "option") -> int:
    """``value`` of option ``key`` as an int: a whole number (:func:`~SDSegLogic.segment_options.whole_number`).

    Args:
        key: an option of :data:`~SDSegLogic.segment_options.OPTION_LIMITS`.
        value: what the caller or the peer gave.
        check_range: also refuse a value outside the table's range (the engine does; the reference
            client leaves the range to the engine it talks to, which may be of another version).
        where: the message's first word(s): ``"option"`` (the engine), ``"segment()"`` (the client).

    Raises:
        InputError: not a whole number, or out of range (:func:`refuse_option`).
    """
    number: Optional[int] = whole_number(value)
    low, high, _ = OPTION_LIMITS[key]
    if number is None or (check_range and not low <= number <= high):
        raise refuse_option(key, value, where)
    return number
