"""Refuse a run option of the wrong type or spelling before anything starts (no ``slicer`` import).

The panel's combo boxes and spin boxes only give valid values; a script calling
:meth:`SDSegModuleLogic.process` or :meth:`~SDSegModuleLogic.startJob` can pass anything. A device
name the engine does not know (``device="gpu"``, ``device=None``) used to stop the warm engine and
start one that died while loading the model (an ``EngineDiedError`` quoting the engine log, or a
bare ``TypeError``); a number given as text (``seed="abc"``) failed with Python's
``invalid literal for int()``, which names neither the argument nor the remedy, and a fractional
one (``steps=2.7``) was silently truncated. :func:`check_run_options` says instead which argument
is wrong, its value and what it takes. ``nanPolicy`` and ``gpuKernels`` are checked against their
choices the same way (``nanPolicy="Fill"`` started a cold engine only for it to refuse ``nan_policy``).

A value out of the engine's range (``steps=0``, ``batchSize=0``, ``seed=-1``) is refused here too
(:data:`OPTION_RANGES`): the engine refused it only once started (a cold engine first loads torch
and the model), naming its own option (``option num_inference_steps=0 is out of range``), not the
script's argument. Whether a model allows that many steps (one trained with fewer timesteps allows
fewer), and the slice numbers (which depend on the volume), stay the engine's and
:meth:`SDSegModuleLogic.sliceSelection`'s to check.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

from SDSegLogic.compile_policy import COMPILE_POLICIES
from SDSegLogic.device import device_spelling
from SDSegLogic.errors import InputError
from SDSegLogic.segment_options import OPTION_LIMITS, whole_number

__all__ = ["DEVICE_KINDS", "OPTION_RANGES", "ENGINE_OPTION_NAMES", "CHOICES", "device_spelling", "check_device",
           "check_whole_number", "check_option_range", "check_choice", "check_run_options"]

DEVICE_KINDS = ("auto", "cpu", "cuda", "mps")
"""The device names the engine takes (``cuda:N`` too); case and surrounding blanks do not matter, as in the engine."""


ENGINE_OPTION_NAMES = {"steps": "num_inference_steps", "samples": "num_samples", "batchSize": "batch_size", "seed": "seed"}
"""A script's argument -> the engine's option of the same meaning."""

OPTION_RANGES = {argument: OPTION_LIMITS[option] for argument, option in ENGINE_OPTION_NAMES.items()}
"""argument -> (lowest, highest, what it is): the values the engine takes, from the one table
:data:`SDSegLogic.segment_options.OPTION_LIMITS` (as ``SDSegLogic/server/jobs.py`` checks them)."""


CHOICES = {"nanPolicy": ("reject", "fill"), "gpuKernels": COMPILE_POLICIES}
"""argument -> the values it takes, spelt as the engine takes them (its ``nan_policy`` option, its ``--compile`` policy)."""


def check_device(device: Any) -> str:
    """``device`` in the engine's spelling (lower case, no blanks) when it is auto, cpu, cuda, cuda:N or mps.

    Only the spelling is checked here; whether CUDA or MPS exists is the engine's to say. The
    normalised name lets a warm engine serve ``"CPU"`` as it serves ``"cpu"`` (no restart).

    Raises:
        InputError: not a string, or an unknown name; the message names the value and the choices.
    """
    text = device_spelling(device) if isinstance(device, str) else None
    kind, sep, index = (text or "").partition(":")
    if text is None or kind not in DEVICE_KINDS or (sep and (kind != "cuda" or not index.isdigit())):
        raise InputError(f"device {device!r} is not a device SDSeg knows; pass 'auto' (the GPU when there is one), "
                         "'cpu', 'cuda', 'cuda:N' (N = 0, 1, ...) or 'mps'.")
    return text


def check_whole_number(argument: str, value: Any) -> int:
    """``value`` as an int when it is a whole number (an int, or a float such as 2.0), else refused.

    The rule is the engine's public API's (:func:`SDSegLogic.segment_options.whole_number`).

    Raises:
        InputError: a bool, text, None or a fractional number; the message names ``argument`` and the value.
    """
    number = whole_number(value)
    if number is None:
        raise InputError(f"{argument} {value!r} must be a whole number (e.g. {argument}=1); pass an int.")
    return number


def check_option_range(argument: str, value: int) -> int:
    """``value`` when ``argument`` has no range in :data:`OPTION_RANGES` or ``value`` is within it.

    Raises:
        InputError: out of the engine's range; the message names ``argument``, the value and the range.
    """
    if argument in OPTION_RANGES:
        low, high, meaning = OPTION_RANGES[argument]
        if not low <= value <= high:
            raise InputError(f"{argument}={value} is out of range: {argument} takes {low} to {high} ({meaning}); "
                             f"e.g. {argument}={low}.")
    return value


def check_choice(argument: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` when it is one of ``choices`` (spelt exactly so), else refused.

    Raises:
        InputError: another value; the message names ``argument``, the value and the choices.
    """
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{argument}={value!r} is not a choice SDSeg knows; pass one of "
                         f"{', '.join(repr(choice) for choice in choices)} (e.g. {argument}={choices[0]!r}).")
    return value


def check_run_options(device: Any, **options: Any) -> Dict[str, Any]:
    """Check ``device`` (:func:`check_device`), each whole-number option and its range (:data:`OPTION_RANGES`),
    and each option with a fixed set of values (:data:`CHOICES`).

    Args:
        device: the engine device name.
        **options: e.g. ``steps=1, samples=1, seed=0, batchSize=8, firstSlice=0, lastSlice=-1`` (whole
            numbers), ``nanPolicy="reject", gpuKernels="auto"`` (:data:`CHOICES`).

    Returns:
        ``{"device": the normalised device name, <option>: its int value or its choice, ...}``.

    Raises:
        InputError: the first option that is not of the kind or in the range it takes, named with its value.
    """
    return {"device": check_device(device),
            **{name: check_choice(name, value, CHOICES[name]) if name in CHOICES
               else check_option_range(name, check_whole_number(name, value)) for name, value in options.items()}}
