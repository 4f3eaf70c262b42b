"""Refuse a run option of the wrong type or spelling before anything starts (no ``slicer`` import).

The panel's combo boxes and spin boxes only give valid values; a script calling
:meth:`SDSegModuleLogic.process` or :meth:`~SDSegModuleLogic.startJob` can pass anything. A device
name the engine does not know (``device="gpu"``, ``device=None``) used to stop the warm engine and
start one that died while loading the model (an ``EngineDiedError`` quoting the engine log, or a
bare ``TypeError``); a number given as text (``seed="abc"``) failed with Python's
``invalid literal for int()``, which names neither the argument nor the remedy, and a fractional
one (``steps=2.7``) was silently truncated. :func:`check_run_options` says instead which argument
is wrong, its value and what it takes; ranges are the engine's to check (it answers them as an
``input_error`` without stopping).
"""

from __future__ import annotations

import numbers
from typing import Any, Dict

from SDSegLogic.errors import InputError

__all__ = ["DEVICE_KINDS", "check_device", "check_whole_number", "check_run_options"]

DEVICE_KINDS = ("auto", "cpu", "cuda", "mps")
"""The device names the engine takes (``cuda:N`` too); case and surrounding blanks do not matter, as in the engine."""


def check_device(device: Any) -> str:
    """``device`` in the engine's spelling (lower case, no blanks) when it is auto, cpu, cuda, cuda:N or mps.

    Only the spelling is checked here; whether CUDA or MPS exists is the engine's to say. The
    normalised name lets a warm engine serve ``"CPU"`` as it serves ``"cpu"`` (no restart).

    Raises:
        InputError: not a string, or an unknown name; the message names the value and the choices.
    """
    text = device.strip().lower() if isinstance(device, str) else None
    kind, sep, index = (text or "").partition(":")
    if text is None or kind not in DEVICE_KINDS or (sep and (kind != "cuda" or not index.isdigit())):
        raise InputError(f"device {device!r} is not a device SDSeg knows; pass 'auto' (the GPU when there is one), "
                         "'cpu', 'cuda', 'cuda:N' (N = 0, 1, ...) or 'mps'.")
    return text


def check_whole_number(argument: str, value: Any) -> int:
    """``value`` as an int when it is a whole number (an int, or a float such as 2.0), else refused.

    Raises:
        InputError: a bool, text, None or a fractional number; the message names ``argument`` and the value.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer():
        return int(value)
    raise InputError(f"{argument} {value!r} must be a whole number (e.g. {argument}=1); pass an int.")


def check_run_options(device: Any, **numbers_: Any) -> Dict[str, Any]:
    """Check ``device`` (:func:`check_device`) and each whole-number option.

    Returns:
        ``{"device": the normalised device name, <option>: its int value, ...}``.

    Args:
        device: the engine device name.
        **numbers_: e.g. ``steps=1, samples=1, seed=0, batchSize=8, firstSlice=0, lastSlice=-1``.

    Raises:
        InputError: the first option that is not of the kind it takes, named with its value.
    """
    return {"device": check_device(device), **{name: check_whole_number(name, value) for name, value in numbers_.items()}}
