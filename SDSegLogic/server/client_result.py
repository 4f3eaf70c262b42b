"""Check a ``result`` frame against the ``segment`` request it answers, before anything is built from it.

A remote engine is user-configured: another SDSeg version, or another program, may answer. The
result must fit the request exactly, or a front-end would write it wrongly: labels on another grid,
slices a run never segmented overwritten, a probability map moved in space. So every field the
client and the Slicer panel use is checked here, in one place, and a frame that does not fit is
refused with ``EngineError("protocol_error")`` naming the field, its value and the remedy.

What the engine sends (PROTOCOL.md, ``result``): ``geometry`` (the input's, copied), ``options``
(the request's, echoed, ``slices`` as ``[start, stop]`` or null), arrays ``labels`` (uint8
``(K, J, I)``), ``probabilities`` and ``variance`` (float32, ``(K, J, I)`` or ``(C, K, J, I)``).
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

import numpy as np

from ..errors import SDSegError
from ..geometry import ImageGeometry
from .client_types import EngineError
from .protocol import Frame, geometry_from_json
from .wire_values import short_repr

__all__ = ["check_result_frame"]

_REMEDY = "update the engine and this client to the same SDSeg version."
_TOLERANCE = 1e-5  # mm, and direction cosines: the engine copies the input's geometry, JSON keeps it exactly


def check_result_frame(frame: Frame, shape: Sequence[int], geometry: ImageGeometry, options: Dict[str, Any]) -> None:
    """Refuse a ``result`` frame that does not fit the request; fill in ``options`` an engine did not echo.

    Args:
        frame: the job's ``result`` frame; its header's ``options`` is set to ``options`` when it
            is missing or null, and its missing keys are taken from ``options`` (an engine that
            echoes none still ran the request's slices).
        shape: (K, J, I) of the image sent.
        geometry: the image's grid as sent (LPS).
        options: the request's ``options`` (:func:`~SDSegLogic.server.client_job.segment_options`).

    Raises:
        EngineError: ``protocol_error`` naming the field and value: ``options`` no object,
            ``options.slices`` not the ``[start, stop]`` asked for, a ``geometry`` other than the
            input's, ``labels`` not a (K, J, I) array of whole numbers 0..255, ``probabilities`` or
            ``variance`` not a float (K, J, I) or (C, K, J, I) array.
    """
    header = frame.header
    _check_options(header, options)
    _check_geometry(header.get("geometry"), geometry)
    kji = tuple(int(n) for n in shape)
    labels = frame.arrays.get("labels")
    if labels is not None:
        _check_labels(np.asarray(labels), kji)
    for name in ("probabilities", "variance"):
        if name in frame.arrays:
            _check_map(name, np.asarray(frame.arrays[name]), kji)


def _refuse(what: str) -> EngineError:
    return EngineError("protocol_error", f"the engine's result has {what}; {_REMEDY}")


def _check_options(header: Dict[str, Any], sent: Dict[str, Any]) -> None:
    echoed = header.get("options")
    if echoed is None:
        echoed = {}
    if not isinstance(echoed, dict):
        raise _refuse(f"options {short_repr(echoed)}, not an object of the options it ran with")
    header["options"] = {**sent, **echoed}
    if "slices" in echoed:
        slices = echoed["slices"]
        asked = sent.get("slices")
        if slices is not None and (not isinstance(slices, list) or len(slices) != 2
                                   or not all(isinstance(v, int) and not isinstance(v, bool) for v in slices)):
            raise _refuse(f"options.slices {short_repr(slices)}, not two whole numbers [start, stop] (the slices "
                          f"asked for were {asked!r})")
        if (None if slices is None else list(slices)) != (None if asked is None else list(asked)):
            raise _refuse(f"options.slices {slices!r}, but the slices asked for were {asked!r}: writing it would "
                          "change slices that were not segmented")


def _check_geometry(data: Any, sent: ImageGeometry) -> None:
    try:
        got = geometry_from_json(data)
    except SDSegError as exc:
        raise _refuse(f"a geometry that cannot be read ({exc})") from None
    if tuple(got.shape) != tuple(sent.shape):
        raise _refuse(f"geometry shape {list(got.shape)}, not the input's {list(sent.shape)} (I, J, K)")
    for field in ("spacing", "origin", "direction"):
        mine, theirs = np.asarray(getattr(sent, field), float), np.asarray(getattr(got, field), float)
        if not np.allclose(mine, theirs, rtol=0.0, atol=_TOLERANCE):
            raise _refuse(f"geometry {field} {theirs.tolist()}, not the input's {mine.tolist()}: the result would lie "
                          "on another grid than the volume segmented")


def _check_labels(labels: np.ndarray, kji: tuple) -> None:
    if labels.shape != kji:
        raise _refuse(f"labels of shape {labels.shape}, not the input's (K, J, I) = {kji}")
    if labels.dtype.kind not in "bui":
        raise _refuse(f"labels of type {labels.dtype}, not whole label values (uint8)")
    if labels.dtype.kind == "i" or labels.dtype.itemsize > 1:
        low, high = (int(labels.min()), int(labels.max())) if labels.size else (0, 0)
        if low < 0 or high > 255:
            raise _refuse(f"labels from {low} to {high} (type {labels.dtype}), outside the label values 0..255")


def _check_map(name: str, array: np.ndarray, kji: tuple) -> None:
    if array.dtype.kind != "f":
        raise _refuse(f"{name} of type {array.dtype}, not float32 values")
    if not (array.shape == kji or (array.ndim == 4 and array.shape[1:] == kji and array.shape[0] >= 1)):
        raise _refuse(f"{name} of shape {array.shape}, not (K, J, I) = {kji} or (C, K, J, I) on the input's grid")
