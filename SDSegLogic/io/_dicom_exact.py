"""The smallest exact pixel type for a DICOM label series, from its headers alone.

A labelmap series is read exactly (:func:`~SDSegLogic.io._dicom.read_dicom` with ``exact``) when every slice's
rescale slope and intercept are whole numbers: its rescaled values are then integers in the range the stored
pixels (BitsAllocated, PixelRepresentation) allow, mapped through each slice's rescale. GDCM is asked for the
smallest integer type holding that range, so that an 8-bit label series takes one byte a voxel, as the memory
preflight (4 bytes a voxel) assumes, not the eight of an int64 read narrowed afterwards.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

__all__ = ["EXACT_TAGS", "gdcm_pixel_type", "note_rescale", "exact_pixel_type", "whole"]

#: BitsAllocated, PixelRepresentation: the stored range of a slice's pixels
EXACT_TAGS = ("0028|0100", "0028|0103")

#: numpy type -> SimpleITK pixel type name, smallest first
_TYPES = (("uint8", "sitkUInt8"), ("int8", "sitkInt8"), ("uint16", "sitkUInt16"), ("int16", "sitkInt16"),
          ("uint32", "sitkUInt32"), ("int32", "sitkInt32"), ("int64", "sitkInt64"))


def gdcm_pixel_type(reader) -> str:
    """The NumPy type name GDCM gives a file's rescaled pixels (``ReadImageInformation`` done), e.g. ``"int32"``.

    GDCM takes the rescale from wherever the file keeps it, the functional groups of an enhanced CT or MR
    included, and answers a float type for a fractional one; ``""`` for a type without a NumPy name here.
    """
    import SimpleITK as sitk

    names = {sitk.sitkUInt8: "uint8", sitk.sitkInt8: "int8", sitk.sitkUInt16: "uint16", sitk.sitkInt16: "int16",
             sitk.sitkUInt32: "uint32", sitk.sitkInt32: "int32", sitk.sitkUInt64: "uint64", sitk.sitkInt64: "int64",
             sitk.sitkFloat32: "float32", sitk.sitkFloat64: "float64"}
    return names.get(reader.GetPixelID(), "")


def whole(text: str) -> bool:
    """True for a DICOM decimal string that is a whole number (``"2"``, ``"-1024.0"``), or an absent one."""
    text = text.strip().split("\\")[0].strip()
    try:
        return not text or float(text).is_integer()
    except ValueError:  # malformed: GDCM's own reading decides; labels then stay float32 and are checked
        return False


def _integer(text: str, default: int) -> Optional[int]:
    text = text.strip().split("\\")[0].strip()
    try:
        return int(float(text)) if text else default
    except ValueError:
        return None


def note_rescale(first: Dict, keys: Dict[str, str]) -> None:
    """Record one slice's header in ``first``: ``fractional_rescale``, else the slice's value range in ``value_range``.

    Args:
        first: the series facts :func:`~SDSegLogic.io._dicom._slice_info` gathers; ``value_range`` is the
            (low, high) of every slice's stored range mapped through its rescale, or ``None`` when a slice
            lacks BitsAllocated (then the range is unknown and int64 is read).
        keys: the slice's header tags (tag -> value), and ``pixel``: :func:`gdcm_pixel_type` of the file. A rescale
            kept in functional groups (enhanced CT/MR) shows only there: an integer type's range is covered too, and
            a float type without a top-level rescale counts as fractional.
    """
    slope_text, intercept_text = keys.get("0028|1053", ""), keys.get("0028|1052", "")
    pixel = keys.get("pixel", "")
    hidden = not (slope_text.strip() or intercept_text.strip()) and pixel.startswith("float")  # functional groups
    if not (whole(slope_text) and whole(intercept_text)) or hidden:
        first["fractional_rescale"] = "1"
        return
    slope, intercept = _integer(slope_text, 1), _integer(intercept_text, 0)
    bits, signed = _integer(keys.get("0028|0100", ""), 0), _integer(keys.get("0028|0103", ""), 0)
    known = "value_range" not in first or first["value_range"] is not None
    if not (known and bits and 0 < bits <= 64 and signed in (0, 1)):
        first["value_range"] = None
        return
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    ends = (slope * low + intercept, slope * high + intercept)
    if pixel and not pixel.startswith("float"):  # GDCM's float for a wide whole rescale: computed in float64
        ends += (int(np.iinfo(pixel).min), int(np.iinfo(pixel).max))
    previous = first.get("value_range") or (min(ends), max(ends))
    first["value_range"] = (min(previous[0], *ends), max(previous[1], *ends))


def exact_pixel_type(first: Dict) -> Optional[str]:
    """The SimpleITK pixel type name (e.g. ``"sitkUInt8"``) that holds every rescaled value of the series exactly
    (at least GDCM's own type for every file).

    ``None`` when the rescale is fractional (read as float32) or the range exceeds int64 (read as float32, labels
    from 2**24 on then refused by the label checks); ``"sitkInt64"`` when a slice's stored range is unknown.
    """
    if first.get("fractional_rescale"):
        return None
    span = first.get("value_range")
    if span is None:
        return "sitkInt64"
    for name, pixel in _TYPES:
        info = np.iinfo(name)
        if info.min <= span[0] and span[1] <= info.max:
            return pixel
    return None
