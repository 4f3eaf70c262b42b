"""NIfTI-1 and MetaImage reading through SimpleITK (header checks, layout, frames) for :mod:`.readers`.

The NIfTI and MetaImage headers are checked here before ITK sees them (crash-prone headers,
qform/sform agreement, truncation); voxels are decoded by NumPy where the header allows it
(``fast`` path), else by ITK, and the geometry always comes from ITK's reading of the header,
checked against the NIfTI transform in force.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..errors import GeometryError, InputError
from ..geometry import ImageGeometry
from ._plane import plane_normal
from .readers import preflight

__all__ = ["read_with_sitk", "itk_detail"]


def read_with_sitk(path: Path, fmt: str, frame: Optional[int], budget: int, meta: Dict[str, Any],
                   exact: bool = False):
    """Read a NIfTI-1 or MetaImage file: header checks, ITK's header reading, voxels by NumPy or ITK.

    A NIfTI rescale is applied as ITK (so 3D Slicer) applies it (:func:`~SDSegLogic.io._nifti_voxels.nifti_rescale`):
    a scl_slope of 0 or NaN counts as 1 and a non-zero scl_inter is still added, where the NIfTI standard would apply
    neither, so that the voxels segmented are those Slicer shows (SimpleITK 2.5 / ITK 5.4 read scl_slope 0,
    scl_inter 10 as stored + 10).

    Args:
        path: the file; ``fmt``: ``"nifti"`` or ``"metaimage"``; ``frame``: the 4-D frame wanted.
        budget: bytes the float32 copy may take; ``meta``: filled with ``rescale``, ``is_2d``, ``frame``.
        exact: a labelmap: a single-file 2-D/3-D/4-D NIfTI of integers with a whole-number rescale is read as
            integers (:func:`~SDSegLogic.io._nifti_voxels.integer_rescale`), not as ITK's float32.

    Returns:
        ``(array (K, J, I[, C]) in the file's type, ImageGeometry in LPS, is colour, modality "")``.
    """
    import SimpleITK as sitk

    from ._sitk import itk_safe_path

    expected_ras = None
    fast = None  # (sizes x first, pixel type, components, decode, fallback) when NumPy reads the voxels, not ITK
    if fmt == "nifti":
        from ._nifti import check_nifti_size, check_nifti_transforms, is_gzip, read_nifti_header
        from ._nifti_header_guard import check_nifti_crash_prone
        from ._nifti_voxels import fast_path_dtype, nifti_rescale, read_nifti_voxels

        header = read_nifti_header(path)
        check_nifti_crash_prone(path, header)  # before any ITK call: these headers crash the process
        expected_ras = check_nifti_transforms(path, header)
        if header.get("version") == 1:
            dims = [int(d) for d in header["dim"][1:int(header["dim"][0]) + 1]] if 1 <= header["dim"][0] <= 7 else [0]
            preflight(path, math.prod(dims), budget)
            dtype = fast_path_dtype(header, exact)
            while len(dims) > 2 and dims[-1] == 1:  # ITK drops trailing axes of one voxel (a 4-D file of 1 frame)
                dims = dims[:-1]
            if dtype is not None:
                fast = (dims, dtype, 1, lambda: read_nifti_voxels(path, header, is_gzip(path), exact)
                        .reshape(dims[::-1]), lambda: check_nifti_size(path, header))
        if fast is None:
            check_nifti_size(path, header)  # the fast path finds truncation while it decompresses
        proper = header.get("version") == 1 and header.get("magic") in (b"n+1\0", b"ni1\0")  # else ITK reads Analyze
        rescale = nifti_rescale(header) if proper else None
        if rescale is not None:
            meta["rescale"] = {"slope": rescale[0], "intercept": rescale[1]}
    else:
        from ._metaimage import check_metaimage_header, verify_metaimage_compressed
        from ._metaimage_voxels import read_metaimage_voxels

        plan = check_metaimage_header(path)  # a plan: the stream is checked while it is read, in one pass
        if plan is not None:
            fast = (plan["sizes"], plan["dtype"].newbyteorder("="), plan["channels"],
                    lambda: read_metaimage_voxels(path, plan), lambda: verify_metaimage_compressed(path))
    with itk_safe_path(path) as safe:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(safe))
        reader.SetImageIO("MetaImageIO" if fmt == "metaimage" else "NiftiImageIO")  # ITK matches endings by case
        try:
            reader.ReadImageInformation()
            values = math.prod(int(n) for n in reader.GetSize()) * int(reader.GetNumberOfComponents())
            preflight(path, values, budget)
            if fast is not None and not _sitk_agrees(reader, *fast[:3]):
                fast[4]()  # the check the fast path would have made while reading
                fast = None
            several = reader.GetDimension() == 4 or int(reader.GetNumberOfComponents()) > 1  # frames, or colour
            image = None
            if fast is None:
                image, array = _decode_sitk(path, reader, several)
        except RuntimeError as exc:
            detail = itk_detail(str(exc))
            text = str(exc).lower()
            if "orthonormal" in text or "bad direction" in text:
                raise GeometryError(f"{path}: the header's direction is not a rotation ({detail}); re-save it with a "
                                    "rotation-only direction (resample in 3D Slicer or SimpleITK).") from None
            if "spacing" in text and ("zero" in text or "refusing to change spacing" in text):
                raise GeometryError(f"{path}: the header's voxel spacing is zero or invalid ({detail}); fix the "
                                    "spacing in the header (e.g. ElementSpacing) or export the image again.") from None
            raise InputError(f"{path}: cannot read the image ({detail}); the file is truncated or corrupt, "
                             "re-export it.") from None
    if image is not None and fmt == "nifti":  # ITK stored NaN/inf voxels as 0: say so, as the NumPy path does
        from .nifti_finite import warn_non_finite_nifti

        warn_non_finite_nifti(path, frame)
    if image is None:  # NumPy reads the voxels; the reader's header information stands in for the image
        array = _frames_once(path, fast[3], f"numpy exact={exact}") if several else fast[3]()
        return _sitk_layout(path, reader, array, expected_ras, frame, meta)
    return _sitk_layout(path, image, array, expected_ras, frame, meta)


def itk_detail(message: str) -> str:
    """The part of an ITK exception message a user can act on: from ``ITK ERROR`` on, without the class prefix."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    start = next((n for n, ln in enumerate(lines) if "ITK ERROR" in ln), None)
    if start is None:
        return lines[-1] if lines else "unknown ITK error"
    first = re.sub(r"^\w+\(0x[0-9a-fA-F]+\):\s*", "", lines[start].split("ITK ERROR", 1)[1].lstrip(": "))
    return " ".join([first] + lines[start + 1:])


def _frames_once(path: Path, decode, variant: str):
    """``decode()``, kept for the file's next frames inside :func:`~SDSegLogic.io.frame_cache.keep_decoded_frames`.

    ``variant`` tells apart the decodes of one file (NumPy's exact integers or float32, ITK's image).
    """
    from .frame_cache import cached_decode

    return cached_decode(path, decode, variant)


def _decode_sitk(path: Path, reader, several: bool):
    """``(image, its voxels)`` read by ``reader``; a multi-frame file is decoded once for all its frames."""
    from ._sitk import array_from_sitk

    def decode():
        image = reader.Execute()
        return image, array_from_sitk(image)  # ITK's buffer itself: a copy would hold the voxels twice

    return _frames_once(path, decode, "itk") if several else decode()


def _sitk_agrees(reader, sizes, dtype: np.dtype, components: int) -> bool:
    """Whether SimpleITK reads the header as the NumPy fast path does: size, pixel type, components, a valid grid.

    A negative spacing is valid: ITK keeps the voxels in stored order and flips that axis's direction
    (:func:`~SDSegLogic.io._sitk.geometry_from_sitk` does the same with the reader's header information).

    Args:
        sizes: voxels along each axis, x first; ``dtype``: the NumPy type the fast path returns.
    """
    import SimpleITK as sitk

    pixel_types = {sitk.sitkUInt8: "u1", sitk.sitkInt8: "i1", sitk.sitkUInt16: "u2", sitk.sitkInt16: "i2",
                   sitk.sitkUInt32: "u4", sitk.sitkInt32: "i4", sitk.sitkUInt64: "u8", sitk.sitkInt64: "i8",
                   sitk.sitkFloat32: "f4", sitk.sitkFloat64: "f8"}
    pixel_id = reader.GetPixelID()
    if components > 1:  # a vector pixel: sitkVectorX is sitkX + (sitkVectorInt8 - sitkInt8)
        pixel_id = pixel_id - (sitk.sitkVectorInt8 - sitk.sitkInt8) if pixel_id >= sitk.sitkVectorInt8 else -1
    pixel = pixel_types.get(pixel_id)
    dim = reader.GetDimension()
    direction = np.asarray(reader.GetDirection(), dtype=np.float64).reshape(dim, dim)
    return (dim == len(sizes) and list(reader.GetSize()) == list(sizes)
            and reader.GetNumberOfComponents() == components and pixel is not None and np.dtype(pixel) == dtype
            and all(v != 0 for v in reader.GetSpacing()) and abs(np.linalg.det(direction)) > 0.5)


def _sitk_layout(path: Path, image, array: np.ndarray, expected_ras, frame: Optional[int], meta: Dict[str, Any]):
    """Geometry, 2-D / 4-D / vector layout and frame choice of an image read by (or for) SimpleITK.

    Args:
        image: the ``SimpleITK.Image``, or the ``ImageFileReader`` after ``ReadImageInformation``
            (the same size, spacing, origin, direction and pixel type).
        array: its voxels in NumPy order (K, J, I[, C]) or (J, I) for 2-D.
    """
    import SimpleITK as sitk

    from ._sitk import geometry_from_sitk

    if expected_ras is not None and image.GetDimension() == 2:  # ITK's 2x2 direction of a tilted plane is sheared
        geometry = _nifti_plane_geometry(path, expected_ras, (*image.GetSize(), 1))
    else:
        geometry = geometry_from_sitk(image, str(path))
    if expected_ras is not None and image.GetDimension() >= 3:
        expected = ImageGeometry.from_ijk_to_lps(np.diag([-1.0, -1.0, 1.0, 1.0]) @ expected_ras, geometry.shape)
        expected.require_same(geometry, what=f"{path}: SimpleITK's reading of the NIfTI transform",
                              spacing_rtol=1e-4, direction_atol=2e-3, origin_atol=1e-2)
    components = image.GetNumberOfComponents() if isinstance(image, sitk.ImageFileReader) \
        else image.GetNumberOfComponentsPerPixel()
    dim = image.GetDimension()
    meta["is_2d"] = dim == 2
    if dim == 2:
        array = array[None]
    colour = components in (3, 4) and image.GetPixelID() in (sitk.sitkVectorUInt8, sitk.sitkVectorUInt16)
    if dim == 4 or (components > 1 and not colour):
        count = array.shape[0] if dim == 4 else components
        if count == 1 and frame is None:  # a single frame (DimSize ... 1): the 3-D volume itself
            frame = 0
        if frame is None:
            raise InputError(f"{path}: 4-D image with {count} frames; choose one with frame=0..{count - 1} "
                             "(--frame N; --frame all: every frame), or save a single 3-D volume.")
        if not 0 <= frame < count:
            raise InputError(f"{path}: frame={frame} is out of range; the image has frames 0..{count - 1}.")
        array = array[frame] if dim == 4 else array[..., frame]
        meta["frame"] = frame
    if dim == 4 or components > 1:  # a frame or a colour volume: never a view of a decode kept for the next frames
        from .frame_cache import own_frame

        array = own_frame(array)
    return array, geometry, colour, ""


def _nifti_plane_geometry(path: Path, ijk_to_ras: np.ndarray, shape) -> ImageGeometry:
    """3-D LPS geometry of a 2-D NIfTI (dim[0] = 2) from its sform/qform.

    SimpleITK reads such a file as a 2-D image and drops the transform's third row and column, so
    a slice placed at z = 55 mm or tilted would land at z = 0, axis-aligned. The header's 4x4
    IJK->RAS matrix keeps the plane's position and tilt. The k axis is the plane's normal toward +z
    (:func:`~SDSegLogic.io._plane.plane_normal`), as ITK (so 3D Slicer) completes a 2-D image, not the
    header's k column, which may point to -z (a qform with qfac -1, an sform's srow_z): the mask written
    for the image then has the third direction Slicer shows. Its length (the k spacing) is the k column's,
    1 mm where that is zero (qform with pixdim[3] = 0) or not finite.
    """
    ijk_to_lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(ijk_to_ras, dtype=np.float64)
    step = float(np.linalg.norm(ijk_to_lps[:3, 2]))
    ijk_to_lps[:3, 2] = plane_normal(ijk_to_lps[:3, 0], ijk_to_lps[:3, 1]) * (step if np.isfinite(step) and step > 0
                                                                              else 1.0)
    try:
        return ImageGeometry.from_ijk_to_lps(ijk_to_lps, shape)
    except GeometryError as exc:
        raise GeometryError(f"{path}: the NIfTI transform of this 2-D image is invalid ({exc}); "
                            "fix the header.") from None
