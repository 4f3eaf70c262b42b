"""JSON values of frame headers: whole numbers, short echoes of a peer's values, and image geometry.

The frame layer (:mod:`SDSegLogic.server.protocol`) and the engine's request parsing read the
values a peer put in a header through these helpers, so a fractional count, a number too large for
a float or an oversized echo is refused the same way everywhere. ``protocol`` re-exports
:func:`geometry_to_json` and :func:`geometry_from_json`, where clients have always imported them.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Optional, Tuple

from ..errors import GeometryError
from ..geometry import ImageGeometry

__all__ = ["short_repr", "whole_number", "job_id_text", "spelled_job_id", "request_job_id", "finite_json", "geometry_to_json", "geometry_from_json"]


def short_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)``, cut to ``limit`` characters (error messages echo what the peer sent).

    A cut one says what was left out: ``"12345678...(int, 4000 characters)"``, so that a message
    quoting a peer's value stays short (a hello's ``protocol`` may hold 4000 digits, a reply 1 MiB).
    """
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}...({type(value).__name__}, {len(text)} characters)"


def whole_number(value: Any) -> int:
    """A JSON integer (an integral float such as ``8.0`` too); ValueError for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    raise ValueError(f"{short_repr(value)} is not a whole number")


def request_job_id(header: Dict[str, Any]) -> Optional[str]:
    """The job id a request names, as the engine keeps and echoes it (``str``); None when it names none.

    A missing, ``null`` or empty ``job_id`` names no job (``0`` does: a client numbering its jobs
    from 0). A refusal of such a request says ``"job_id": null``; a job started from it gets an id
    the engine chooses, told to the client in ``accepted`` (PROTOCOL.md, "Job ids"). An id holding a
    number beyond float range (``1e400``, read as infinite) names no job either: it has no JSON
    spelling to echo (:func:`spelled_job_id`), and a ``segment`` naming one is refused.
    """
    given = header.get("job_id")
    return None if given is None or given == "" else spelled_job_id(given)


def spelled_job_id(value: Any) -> Optional[str]:
    """:func:`job_id_text` of ``value``, or None when it holds a number beyond float range (``1e400``).

    Such a number reads as infinite, which JSON cannot write: its spelling would be ``"Infinity"``,
    the constant PROTOCOL.md refuses, and a string job id ``"Infinity"`` would answer to it.
    """
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        return None


def job_id_text(value: Any) -> str:
    """A peer's ``job_id`` as the engine keeps and echoes it: a string as it is, any other JSON value in JSON spelling.

    JSON spelling (compact, no spaces, non-ASCII kept) is one a client in any language can predict:
    ``7`` -> ``"7"``, ``true`` -> ``"true"``, ``{"a": 1}`` -> ``'{"a":1}'``. ``str()`` gave Python's
    (``"True"``, ``"{'a': 1}"``). A number too large for a float (``1e400``) reads as infinite and
    is spelled ``"Infinity"`` here; :func:`spelled_job_id` tells such an id apart (it names no job).
    """
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def finite_json(value: Any) -> Any:
    """``value`` (JSON data: dicts, lists, numbers, strings) with every NaN or infinite float replaced by None (``null``).

    Frames are encoded with ``allow_nan=False`` (NaN is not JSON); data the engine only passes on, such
    as a model card's free-form ``training`` record (a test metric ``hd95`` of ``Infinity`` for an empty
    prediction, written by ``json.dumps``), would otherwise make the whole reply unencodable.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    return value


def geometry_to_json(geometry: ImageGeometry) -> Dict[str, Any]:
    """ImageGeometry -> JSON object (LPS; spacing/origin/shape in i, j, k order; direction rows)."""
    return {
        "frame": "LPS",
        "spacing": list(geometry.spacing),
        "origin": list(geometry.origin),
        "direction": [list(row) for row in geometry.direction],
        "shape": list(geometry.shape),
    }


def _three(data: Dict[str, Any], key: str) -> List[Any]:
    value = data[key]
    if not isinstance(value, list) or len(value) != 3:
        raise GeometryError(f"geometry {key} must be a list of 3 entries, got {short_repr(value)}.")
    return value


def _numbers(values: List[Any], key: str) -> Tuple[float, float, float]:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise GeometryError(f"geometry {key} must hold numbers, got {short_repr(values)}.")
    try:
        return tuple(float(v) for v in values)  # type: ignore[return-value]
    except OverflowError:  # a JSON integer such as 10**400
        raise GeometryError(f"geometry {key} holds a number too large for a float, got {short_repr(values)}.") from None


def geometry_from_json(data: Any) -> ImageGeometry:
    """Inverse of :func:`geometry_to_json`; raises GeometryError naming the bad field and value.

    ``spacing`` and ``origin`` are 3 numbers, ``direction`` 3 rows of 3 numbers and ``shape`` 3
    whole numbers (a fractional voxel count such as 2.5 is refused, not truncated).
    """
    if not isinstance(data, dict):
        raise GeometryError(f"geometry must be an object with spacing, origin, direction, shape; got {type(data).__name__}.")
    if data.get("frame", "LPS") != "LPS":
        raise GeometryError(f"geometry frame {short_repr(data.get('frame'))} is not supported; convert to LPS (negate x and y of RAS).")
    try:
        rows = _three(data, "direction")
        if not all(isinstance(row, list) and len(row) == 3 for row in rows):
            raise GeometryError(f"geometry direction must be 3 rows of 3 numbers, got {short_repr(rows)}.")
        shape = _three(data, "shape")
        try:
            counts = tuple(whole_number(n) for n in shape)
        except ValueError:
            raise GeometryError(f"geometry shape must be 3 whole voxel counts (I, J, K), got {short_repr(shape)}.") from None
        return ImageGeometry(
            spacing=_numbers(_three(data, "spacing"), "spacing"), origin=_numbers(_three(data, "origin"), "origin"),
            direction=tuple(_numbers(row, "direction") for row in rows), shape=counts,
        )
    except KeyError as exc:
        raise GeometryError(f"geometry is missing {exc.args[0]!r}; it needs spacing, origin, direction and shape.") from None
