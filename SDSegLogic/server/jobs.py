"""Request validation, error classification and engine self-description (no sockets here)."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from ..cli_errors import is_cpu_out_of_memory
from ..errors import CancelledError, CheckpointError, GeometryError, InputError, ModelCardError, SDSegError
from ..geometry import ImageGeometry
from ..segment_options import OPTION_LIMITS, whole_number
from .option_rule import option_number
from .protocol import PROTOCOL_VERSION, Frame, ProtocolError
from .wire_values import finite_json, short_repr

__all__ = ["SegmentRequest", "parse_segment_request", "classify_exception", "engine_info", "DEFAULT_OPTIONS"]

#: Options of a ``segment`` request and their defaults.
DEFAULT_OPTIONS: Dict[str, Any] = {
    "num_inference_steps": 1,
    "num_samples": 1,
    "seed": 0,
    "slices": None,
    "batch_size": 8,
    "want_probabilities": False,
    "want_variance": False,
    "modality": "",
    "strict": False,
    "nan_policy": "reject",
}
#: Longest ``modality`` accepted: a DICOM Modality (0008,0060) is a code string of at most 16 characters.
MAX_MODALITY_CHARS = 16


@dataclass(frozen=True)
class SegmentRequest:
    """A validated ``segment`` request.

    Attributes:
        image: (K, J, I) scalar or (K, J, I, 3) RGB array as received (read-only view).
        geometry: its grid in LPS; ``geometry.array_shape == image.shape[:3]``.
        options: :data:`DEFAULT_OPTIONS` with the client's values; ``slices`` is ``None`` or a
            ``(start, stop)`` range of voxel indices along the input axis that the model slices
            across (k for an axial scan and an axial model, j for a CT stored as coronal slices;
            see :func:`SDSegLogic.segment_plan.plan_segmentation`); ``modality`` is the input's
            modality (a DICOM code such as ``"CT"``, or ``"photo"``), stripped, ``""`` when unknown;
            ``strict`` (a bool) refuses a modality or colour/grey channel mismatch with an
            :class:`~SDSegLogic.errors.InputError` instead of warning about it; ``nan_policy``
            (``"reject"`` or ``"fill"``) refuses NaN/infinite voxels or replaces them with the
            window minimum, with a warning.
    """

    image: np.ndarray
    geometry: ImageGeometry
    options: Dict[str, Any]


def _int_option(options: Dict[str, Any], key: str) -> int:
    """``options[key]`` as an int within :data:`~SDSegLogic.segment_options.OPTION_LIMITS`, else InputError.

    The rule and the words are those of the segment API and the Slicer module
    (:mod:`SDSegLogic.server.option_rule`: ``2`` and ``2.0`` are the same count).
    """
    return option_number(key, options[key])


def _modality_option(value: Any) -> str:
    """The ``modality`` option: a short printable string (``""`` when the client does not know it)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"option modality={value!r} must be a string such as \"CT\", \"MR\" or \"photo\" (or \"\").")
    text = value.strip()
    if len(text) > MAX_MODALITY_CHARS or not text.isprintable():
        raise InputError(f"option modality={value!r} must be a printable code of at most {MAX_MODALITY_CHARS} characters, "
                         "such as the DICOM Modality \"CT\" or \"photo\" for a 2-D picture.")
    return text


def parse_segment_request(frame: Frame, geometry_from_json: Callable[[Any], ImageGeometry]) -> SegmentRequest:
    """Check a ``segment`` frame: one image array, its geometry and the options.

    Raises:
        InputError: missing image, wrong dtype or shape, unknown or out-of-range options, a
            ``modality`` that is not a short printable string, a ``want_*`` or ``strict`` option
            that is not a boolean, a ``nan_policy`` other than ``"reject"``/``"fill"``.
        GeometryError: malformed geometry or a geometry that does not match the array.
    """
    image = frame.arrays.get("image")
    if image is None:
        raise InputError("segment request carries no array named 'image'; send the volume as 'image'.")
    if image.dtype.kind not in "uif":
        raise InputError(f"image dtype {image.dtype} is not numeric.")
    if image.ndim == 4 and image.shape[3] != 3:
        raise InputError(f"image shape {image.shape}: a colour image must be (K, J, I, 3) RGB; drop the alpha channel first.")
    if image.ndim not in (3, 4):
        raise InputError(f"image shape {image.shape} must be (K, J, I) for a scalar volume or (K, J, I, 3) for RGB.")
    if min(image.shape[:3]) < 1:
        empty = ", ".join(axis for axis, n in zip("KJI", image.shape) if n < 1)
        raise InputError(f"image shape {image.shape} has no voxels along {empty}; send a volume with at least one voxel "
                         "along each of K, J and I.")
    geometry = geometry_from_json(frame.header.get("geometry"))
    if tuple(image.shape[:3]) != geometry.array_shape:
        raise GeometryError(
            f"image array shape {tuple(image.shape[:3])} (K, J, I) does not match geometry shape {geometry.shape} (I, J, K); "
            "send the array in (K, J, I) order as arrayFromVolume returns it."
        )
    given = frame.header.get("options") or {}
    if not isinstance(given, dict):
        raise InputError("'options' must be a JSON object.")
    unknown = sorted(set(given) - set(DEFAULT_OPTIONS))
    if unknown:
        raise InputError(f"unknown segment options {unknown}; known options are {sorted(DEFAULT_OPTIONS)}.")
    options = {**DEFAULT_OPTIONS, **given}
    for key in OPTION_LIMITS:
        options[key] = _int_option(options, key)
    for key in ("want_probabilities", "want_variance", "strict"):
        if not isinstance(options[key], bool):
            raise InputError(f"option {key}={options[key]!r} must be true or false.")
    if options["slices"] is not None:
        rng = options["slices"]
        # counted along the model's slicing axis, which may be any voxel axis (a sagittal-stored CT and an
        # axial model: j); the pipeline checks the range against that axis (a start past its end is refused)
        longest = max(image.shape[:3])
        bounds = [whole_number(v) for v in rng] if isinstance(rng, (list, tuple)) and len(rng) == 2 else [None]
        if None in bounds or not 0 <= bounds[0] < bounds[1] <= longest:
            raise InputError(f"option slices={short_repr(rng, 80)} must be [start, stop) of whole numbers with 0 <= start "
                             f"< stop <= the number of slices along the model's slicing axis (at most {longest} for this "
                             "image).")
        options["slices"] = (bounds[0], bounds[1])
    options["modality"] = _modality_option(options["modality"])
    if options["nan_policy"] not in ("reject", "fill"):
        raise InputError(f"option nan_policy={options['nan_policy']!r} must be \"reject\" or \"fill\".")
    return SegmentRequest(image=image, geometry=geometry, options=options)


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError) or is_cpu_out_of_memory(exc):  # the CPU allocator's words lack "out of memory"
        return True
    name = type(exc).__name__
    return name in ("OutOfMemoryError", "OutOfResourcesError") or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def classify_exception(exc: BaseException) -> Tuple[str, str]:
    """Map an exception to ``(code, message)`` for an ``error`` event; never includes a traceback."""
    if isinstance(exc, ProtocolError):
        return exc.code, exc.message
    if isinstance(exc, CancelledError):
        return "cancelled", str(exc) or "cancelled"
    if _is_out_of_memory(exc):
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - best effort only
            pass
        if isinstance(exc, MemoryError) or is_cpu_out_of_memory(exc):  # it ran on the CPU: no CPU-device remedy
            where, remedy = "host memory", "segment a slice range, or close other programs"
        else:
            where, remedy = "GPU memory", "segment a slice range, or choose the CPU device"
        return "out_of_memory", (
            f"the engine ran out of {where} while segmenting ({type(exc).__name__}). Lower the batch size or the "
            f"number of samples, {remedy}. The engine is still running."
        )
    for cls, code in ((GeometryError, "geometry_error"), (InputError, "input_error"), (ModelCardError, "model_card_error"),
                      (CheckpointError, "checkpoint_error"), (SDSegError, "engine_error")):
        if isinstance(exc, cls):
            return code, str(exc)
    return "internal_error", f"unexpected {type(exc).__name__} in the engine: {exc}. The engine log has the details."


def _host_memory() -> Dict[str, Optional[float]]:
    total = available = None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        total = round(pages * size / 2**30, 2)
        available = round(os.sysconf("SC_AVPHYS_PAGES") * size / 2**30, 2)
    except (ValueError, OSError, AttributeError):
        pass
    return {"total_gib": total, "available_gib": available}


def engine_info(predictor: Any, options: Any, busy: bool) -> Dict[str, Any]:
    """What the ``info`` request returns: model card, device, memory, versions, limits."""
    from .. import __version__

    card = getattr(predictor, "model_card", None)
    device = getattr(predictor, "device", None)
    info: Dict[str, Any] = {
        "protocol": PROTOCOL_VERSION,
        "engine_version": __version__,
        # NaN/inf (a training metric) as null: one such value made the whole info reply internal_error
        "model_card": finite_json(card.to_dict()) if hasattr(card, "to_dict") else None,
        "device": str(device) if device is not None else "unknown",
        "dtype": str(getattr(predictor, "dtype", "")).replace("torch.", ""),
        "unet_dtype": str(getattr(predictor, "unet_dtype", getattr(predictor, "dtype", ""))).replace("torch.", ""),
        "compiled": bool(getattr(predictor, "compiled_rows", None)),
        "busy": bool(busy),
        "pid": os.getpid(),
        "limits": {"max_request_bytes": options.max_request_bytes, "max_header_bytes": options.max_header_bytes,
                   "max_inflight_request_bytes": options.max_inflight_request_bytes},
        "host_memory": _host_memory(),
        "versions": {"python": platform.python_version(), "numpy": np.__version__},
        "platform": sys.platform,
    }
    try:
        import torch

        info["versions"]["torch"] = torch.__version__
        from ..device import describe_devices

        info["devices"] = describe_devices()
    except Exception as exc:  # noqa: BLE001 - info must not fail because of an optional probe
        info["devices"] = {"error": str(exc)}
    return info
