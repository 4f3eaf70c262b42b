"""``read_image``: one entry point for every supported input format.

Each read runs in three steps: identify the format from content and extension
(:mod:`.sniff`), check the header only (voxel count against the memory budget, geometry,
4-D / colour layout), then read voxels and cast them to float32 once. Each format's reading
lives in its own module: ``_nrrd``, ``_sitk_read`` (NIfTI-1, MetaImage), ``_dicom``, ``_photo``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from ..errors import GeometryError, InputError
from ..geometry import ImageGeometry
from ..limits import default_memory_budget, format_bytes
from ._dicom import PHOTO_MODALITIES
from .sniff import detect_format

__all__ = ["ImageData", "read_image", "read_voxels", "image_data_from_array", "preflight"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageData:
    """An image as read from disk (or handed over from Slicer).

    Attributes:
        array: float32 (K, J, I) for scalar images or (K, J, I, 3) for colour images; a 2-D picture
            has K = 1. Colour images and gray photos (PNG/JPEG/TIFF/BMP) are on the 0..255 scale:
            16-bit ones are multiplied by 255 / 65535 (so 16-bit and 8-bit pictures of the same scene
            agree); gray volumes keep their values. Rescale slope/intercept is already applied, so
            CT is in HU. Treat it as read-only.
        geometry: the voxel grid in LPS (spacing along i, j, k; origin; direction columns).
        is_rgb: True when ``array`` has the trailing colour axis.
        modality: hint such as ``"CT"``, ``"MR"``, ``"photo"``; ``""`` when unknown.
        source: the path that was read (``None`` for arrays from memory).
        metadata: facts about the read: ``format``, ``original_dtype``, ``is_2d``, ``rescale``,
            ``series_count``, ``frame``, ``warnings`` (list of str).
    """

    array: np.ndarray
    geometry: ImageGeometry
    is_rgb: bool = False
    modality: str = ""
    source: Optional[Path] = None
    metadata: Dict[str, Any] = field(default_factory=dict)


def preflight(path: Path, values: int, budget: int) -> None:
    """Refuse (InputError, before any voxel is read) a file of ``values`` voxels whose float32 copy exceeds ``budget``."""
    needed = int(values) * 4
    if needed > budget:
        raise InputError(
            f"{path}: the image holds {values:,} values ({format_bytes(needed)} as float32), more than the memory "
            f"budget of {format_bytes(budget)}. Crop or downsample it first (e.g. Crop Volume in 3D Slicer), or raise "
            "the budget with max_bytes / SDSEG_MAX_BYTES if the machine has the memory."
        )


def _to_float32(array: np.ndarray, picture: bool, copy: bool = False) -> np.ndarray:
    """Cast to float32; 16-bit pictures (colour, or gray photos) are scaled from 0..65535 to 0..255.

    A picture's values are intensities on the 8-bit scale the ``rgb`` mapping expects (``x / 255``),
    whatever its bit depth; volumes (CT, MR in any format) keep their values.
    """
    if picture and array.dtype.kind == "u" and array.dtype.itemsize == 2:  # either byte order (TIFF I;16B)
        return array.astype(np.float32) * np.float32(255.0 / 65535.0)
    with np.errstate(over="ignore"):  # a double beyond float32 becomes inf; _finish names it
        return array.astype(np.float32, copy=copy)


def _check_rescale_range(where: str, volume: np.ndarray, meta: Dict[str, Any]) -> None:
    """Refuse DICOM voxels that the rescale carried beyond float32 (finite stored values read as +-inf).

    A DICOM series' stored pixels are finite integers, and SimpleITK's own read of it holds the rescaled values
    in float64, finite; read into float32 by GDCM they became infinite without a word, so the NaN policy called
    real voxels "NaN or infinite" and ``fill`` replaced them (as :func:`~SDSegLogic.preprocessing.check_float32_range`
    refuses for float64 files). A NIfTI's rescale is left alone: ITK itself computes it in float32 and reads inf.

    Args:
        where: the path named in the message.
        volume: the float32 voxels (K, J, I), rescaled.
        meta: the read's facts; ``rescale`` (slope, intercept) and ``format`` are used.

    Raises:
        InputError: naming the count, the first such voxel, the slope and intercept, and the remedy.
    """
    rescale = meta.get("rescale")
    if not rescale or meta.get("format") != "dicom":
        return
    beyond = np.isinf(volume)
    count = int(np.count_nonzero(beyond))
    if count == 0:
        return
    first = tuple(int(v) for v in np.argwhere(beyond)[0])
    varies = " (it varies per slice)" if rescale.get("varies_per_slice") else ""
    raise InputError(
        f"{where}: the header's rescale (slope {rescale['slope']:g}, intercept {rescale['intercept']:g}{varies}) takes "
        f"{count} voxel value(s) beyond the float32 range the engine computes in (|v| <= "
        f"{float(np.finfo(np.float32).max):.4g}), first at index (k, j, i) = {first[:3]}. The stored values are "
        "finite, so a NaN policy does not apply: fix the rescale slope/intercept in the header, or save the image rescaled "
        "to its modality's value range, before segmenting."
    )


def _finish(path: Optional[Path], array: np.ndarray, geometry: ImageGeometry, colour: bool,
            meta: Dict[str, Any], modality: str) -> ImageData:
    """Cast to float32 once, settle the colour layout and check the shape against the geometry."""
    where = str(path) if path is not None else "array"
    if array.dtype.kind == "c" or array.dtype.fields is not None:
        raise InputError(f"{where}: voxel type {array.dtype} is not supported; save real-valued voxels.")
    meta.setdefault("original_dtype", str(array.dtype))
    if colour:
        components = array.shape[-1]
        if components == 4:
            alpha = array[..., 3]
            opaque = np.iinfo(array.dtype).max if array.dtype.kind in "ui" else 1.0
            if not np.all(alpha == opaque):
                raise InputError(f"{where}: the image has a transparent alpha channel; flatten it onto a background "
                                 "and save it as RGB.")
            array = array[..., :3]
            message = f"{where}: dropped an all-opaque alpha channel."
            meta["warnings"].append(message)
            warnings.warn(message, stacklevel=3)
        elif components != 3:
            raise InputError(f"{where}: {components} colour components; give a gray or RGB image.")
        array = _to_float32(array, True, copy=True)
    else:
        photo = modality == "photo" or modality.strip().upper() in PHOTO_MODALITIES  # a PNG, or an OP DICOM
        wide, array = array, _to_float32(array, photo)
        if wide.dtype.itemsize == 8 and wide.dtype.kind == "f":  # 1e300 would become inf, then "NaN or infinite"
            from ..preprocessing import check_float32_range

            check_float32_range(wide, array, where)
        _check_rescale_range(where, array, meta)
    spatial = tuple(array.shape[:3])
    if spatial != geometry.array_shape:
        raise GeometryError(f"{where}: voxel array {spatial} does not match the header's grid {geometry.array_shape}; "
                            "the file is inconsistent, re-export it.")
    return ImageData(array=array, geometry=geometry, is_rgb=bool(colour), modality=modality, source=path, metadata=meta)


def image_data_from_array(array: np.ndarray, geometry: Optional[ImageGeometry] = None, *, is_rgb: Optional[bool] = None,
                          modality: str = "") -> ImageData:
    """Wrap an in-memory array (e.g. from Slicer's ``arrayFromVolume``) as :class:`ImageData`.

    Args:
        array: (K, J, I) scalar or (K, J, I, 3) colour; copied to float32.
        geometry: its grid; identity spacing 1 at the origin when omitted.
        is_rgb: colour layout; guessed from a trailing axis of 3 or 4 when omitted.
    """
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    colour = bool(is_rgb) if is_rgb is not None else (array.ndim == 4 and array.shape[-1] in (3, 4))
    if array.ndim != (4 if colour else 3):
        raise InputError(f"array of shape {array.shape}: expected (K, J, I) or (K, J, I, 3).")
    geometry = geometry or ImageGeometry.for_array(array)
    return _finish(None, array, geometry, colour, {"format": "array", "warnings": []}, modality)


def read_image(path: Union[str, Path], *, frame: Optional[int] = None, series: Optional[str] = None,
               max_bytes: Optional[int] = None) -> ImageData:
    """Read NRRD, NIfTI, MetaImage, a DICOM series folder or a 2-D PNG/JPEG/TIFF/BMP picture.

    Args:
        path: a file, or a folder holding a DICOM series (a single DICOM file selects its series).
        frame: for 4-D images (time series, multi-echo, multi-page TIFF), the frame to read;
            without it a 4-D image is rejected.
        series: DICOM SeriesInstanceUID to read; by default the named file's series, else the
            series with the most slices (a tie for most is refused, listing the series).
        max_bytes: refuse (before reading voxels) images whose float32 copy exceeds this many
            bytes; default :func:`SDSegLogic.limits.default_memory_budget`.

    Returns:
        :class:`ImageData`: float32 array (K, J, I) or (K, J, I, 3), geometry in LPS. NIfTI (RAS
        on disk) is converted to LPS; rescale slope/intercept is applied; 2-D images get K = 1;
        16-bit colour images and 16-bit gray photos are scaled to 0..255 (``metadata["original_dtype"]``
        keeps ``uint16``).

    Raises:
        InputError: missing, empty, truncated or corrupt file; extension contradicting the
            content; unsupported layout (4-D without ``frame``, transparent alpha, too large).
        GeometryError: non-orthonormal direction, ambiguous NIfTI transforms, zero spacing,
            missing DICOM slices or gantry tilt.
    """
    path = Path(path)
    fmt = detect_format(path)
    budget = int(max_bytes) if max_bytes is not None else default_memory_budget()
    meta: Dict[str, Any] = {"format": fmt, "warnings": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = _dispatch(path, fmt, frame, series, budget, meta)
    for item in caught:
        meta["warnings"].append(str(item.message))
        warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    array, geometry, colour, modality = data
    logger.info("read %s: %s %s, spacing %s, %s", path.name, fmt, geometry.shape, geometry.spacing,
                geometry.orientation_code())
    return _finish(path, array, geometry, colour, meta, modality)


def read_voxels(path: Union[str, Path], *, frame: Optional[int] = None, series: Optional[str] = None,
                max_bytes: Optional[int] = None) -> Tuple[np.ndarray, ImageGeometry]:
    """``(voxels, geometry in LPS)`` read and checked as by :func:`read_image`, but (K, J, I[, C]) in the file's type:
    no float32 cast or 16-bit picture scaling (an 8/16-bit NRRD: float32, exact). A gray DICOM series is rescaled:
    into the smallest integer type that holds it where every slope and intercept is a whole number, else float32
    (:func:`~SDSegLogic.io._dicom.read_dicom` with ``exact``)."""
    path, fmt = Path(path), detect_format(Path(path))
    budget = int(max_bytes) if max_bytes is not None else default_memory_budget()
    array, geometry, _, _ = _dispatch(path, fmt, frame, series, budget, {"format": fmt, "warnings": []}, exact=True)
    if tuple(array.shape[:3]) != geometry.array_shape:
        raise GeometryError(f"{path}: voxel array {tuple(array.shape[:3])} does not match the header's grid "
                            f"{geometry.array_shape}; the file is inconsistent, re-export it.")
    return array, geometry


def _dispatch(path: Path, fmt: str, frame: Optional[int], series: Optional[str], budget: int, meta: Dict[str, Any],
              exact: bool = False):
    if fmt == "nrrd":
        from ._nrrd import nrrd_voxel_count, read_nrrd, read_nrrd_header

        header = read_nrrd_header(path)
        preflight(path, nrrd_voxel_count(header), budget)
        array, geometry, facts = read_nrrd(path, header, frame, exact)
        meta.update({k: v for k, v in facts.items() if k != "kind"})
        meta["is_2d"] = geometry.shape[2] == 1 and int(header["dimension"]) - (facts["kind"] == "colour") == 2
        return array, geometry, facts["kind"] == "colour", ""
    if fmt in ("nifti", "metaimage"):
        from ._sitk_read import read_with_sitk

        return read_with_sitk(path, fmt, frame, budget, meta, exact)
    if fmt == "dicom":
        from ._dicom import dicom_voxel_count, read_dicom

        count, plan = dicom_voxel_count(path, series)
        preflight(path, count, budget)
        array, geometry, facts = read_dicom(path, plan, exact=exact)
        meta.update(facts)
        meta["is_2d"] = False
        return array, geometry, array.ndim == 4, facts.get("modality", "")
    from ._photo import photo_size, read_photo

    width, height, bands, _ = photo_size(path, frame)
    preflight(path, width * height * bands, budget)
    array, facts = read_photo(path, frame)
    meta.update(facts)
    meta["is_2d"] = True
    colour = array.ndim == 4
    return array, ImageGeometry.for_array(array), colour, "photo"
