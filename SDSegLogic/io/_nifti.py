"""NIfTI-1 header checks (qform/sform, size), done before the voxels are read (by NumPy or SimpleITK).

SimpleITK silently prefers one of the two transforms; a file whose sform is sheared, or whose
qform and sform disagree, is ambiguous and rejected here instead (reliability table row 19).
"""

from __future__ import annotations

import math
import struct
import warnings
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..errors import GeometryError, InputError
from ._deflate import gzip_open, stream_errors
from ._nifti_header_guard import nifti_bytes_per_voxel

__all__ = ["read_nifti_header", "nifti_affine_ras", "nifti_mm_per_unit", "check_nifti_transforms",
           "check_nifti_size", "QFORM_SFORM_DIRECTION_TOL"]

#: largest difference between qform and sform direction cosines accepted as float32 round-off
QFORM_SFORM_DIRECTION_TOL = 2e-3


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def read_nifti_header(path: Path) -> Dict[str, Any]:
    """Parse the fields of a NIfTI-1 header needed for checks (NIfTI-2 returns ``{"version": 2}``)."""
    opener = gzip_open if is_gzip(path) else (lambda name: open(name, "rb"))
    try:
        with opener(path) as fh:
            raw = fh.read(348)
    except stream_errors() as exc:
        raise InputError(f"{path}: cannot read the NIfTI header ({exc}); the file is corrupt, re-export it.") from None
    if len(raw) < 348:
        raise InputError(f"{path}: NIfTI header is truncated ({len(raw)} of 348 bytes); re-export the file.")
    for endian in "<>":
        size = struct.unpack(endian + "i", raw[:4])[0]
        if size in (348, 540):
            break
    else:
        raise InputError(f"{path}: not a NIfTI header (sizeof_hdr is not 348); re-export the file.")
    if size == 540:
        return {"version": 2}

    def unpack(fmt: str, offset: int):
        return struct.unpack_from(endian + fmt, raw, offset)

    dim = unpack("8h", 40)
    return {
        "version": 1,
        "endian": endian,
        "magic": bytes(raw[344:348]),
        "dim": dim,
        "intent_code": unpack("h", 68)[0],
        "datatype": unpack("h", 70)[0],
        "bitpix": unpack("h", 72)[0],
        "pixdim": unpack("8f", 76),
        "vox_offset": unpack("f", 108)[0],
        "xyzt_units": raw[123],
        "scl_slope": unpack("f", 112)[0],
        "scl_inter": unpack("f", 116)[0],
        "qform_code": unpack("h", 252)[0],
        "sform_code": unpack("h", 254)[0],
        "quatern": unpack("3f", 256),
        "qoffset": unpack("3f", 268),
        "srow": np.array(unpack("12f", 280), dtype=np.float64).reshape(3, 4),
    }


def nifti_affine_ras(header: Dict[str, Any], which: str) -> np.ndarray:
    """4x4 IJK->RAS matrix from the ``"qform"`` or ``"sform"`` fields (NIfTI-1 definition)."""
    m = np.eye(4)
    if which == "sform":
        m[:3, :] = header["srow"]
        return m
    b, c, d = (float(v) for v in header["quatern"])
    a = np.sqrt(max(0.0, 1.0 - (b * b + c * c + d * d)))
    r = np.array([
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ])
    pixdim = header["pixdim"]
    qfac = -1.0 if pixdim[0] < 0 else 1.0
    m[:3, :3] = r @ np.diag([pixdim[1], pixdim[2], qfac * pixdim[3]])
    m[:3, 3] = header["qoffset"]
    return m


#: NIfTI spatial unit code (``xyzt_units & 7``) -> millimetres per unit, as ITK's NiftiImageIO scales
#: spacing and origin (metre, micron); other codes (mm, unknown) are read as millimetres
_MM_PER_UNIT = {1: 1e3, 3: 1e-3}


def nifti_mm_per_unit(header: Dict[str, Any]) -> float:
    """Millimetres per unit of the header's spatial coordinates (``xyzt_units``): 1000 for metres, 0.001 for microns."""
    return _MM_PER_UNIT.get(int(header.get("xyzt_units", 0)) & 0x07, 1.0)


def check_nifti_transforms(path: Path, header: Dict[str, Any]) -> Optional[np.ndarray]:
    """Reject a sheared sform or a qform/sform disagreement; return the IJK->RAS matrix in force.

    Returns:
        float64 (4, 4) IJK->RAS in millimetres of the transform a reader must use (sform if set,
        else qform; a header in metres or microns scaled as ITK and 3D Slicer scale it), or
        ``None`` when neither is set (a warning is issued: the orientation is unknown).
    """
    if header.get("version") != 1:
        return None
    ndim = int(header["dim"][0])
    sizes = [float(v) for v in header["pixdim"][1:1 + min(max(ndim, 0), 3)]]
    if not all(math.isfinite(v) and v != 0 for v in sizes):
        raise GeometryError(
            f"{path}: the NIfTI voxel size (pixdim {sizes}) holds a zero or non-finite value, which ITK silently "
            "replaces by 1 mm. Fix the header's pixdim (e.g. nibabel img.header.set_zooms(...)) or export the image "
            "again."
        )
    q_code, s_code = header["qform_code"], header["sform_code"]
    scale = np.diag([nifti_mm_per_unit(header)] * 3 + [1.0])  # compared and returned in millimetres
    sform = scale @ nifti_affine_ras(header, "sform") if s_code > 0 else None
    qform = scale @ nifti_affine_ras(header, "qform") if q_code > 0 else None
    if sform is not None:
        axes = sform[:3, :3]
        norms = np.linalg.norm(axes, axis=0)
        if not np.all(np.isfinite(sform)) or np.any(norms <= 0):
            raise GeometryError(f"{path}: the NIfTI sform has a zero or non-finite entry "
                                f"({sform[:3].round(6).tolist()}); fix the header (or set sform_code to 0 if the "
                                "qform is right).")
        unit = axes / norms
        error = float(np.abs(unit.T @ unit - np.eye(3)).max())
        if error > 1e-4:
            raise GeometryError(
                f"{path}: the NIfTI sform is sheared (axes not orthogonal, max |D^T D - I| = {error:.2e}); ITK cannot "
                "represent it and would silently use another transform. Resample the image to a rotation-only grid "
                "(e.g. 3D Slicer 'Harden transform' then save, or nibabel/SimpleITK resampling) and save it again."
            )
    if qform is not None and not np.all(np.isfinite(qform)):
        raise GeometryError(f"{path}: the NIfTI qform (quatern_b/c/d, qoffset) holds a non-finite value; fix the "
                            "header (or set qform_code to 0 if the sform is right).")
    if sform is not None and qform is not None:
        # the qform quaternion is stored in float32, so near-180-degree rotations differ by ~1e-4 after
        # decoding; tolerate that, reject real disagreements (0.1 degree, 0.01 mm, 0.01 % spacing)
        s_norm, q_norm = np.linalg.norm(sform[:3, :3], axis=0), np.linalg.norm(qform[:3, :3], axis=0)
        d_dir = float(np.abs(sform[:3, :3] / s_norm - qform[:3, :3] / q_norm).max())
        d_spacing = float(np.abs(s_norm / q_norm - 1.0).max())
        d_org = float(np.abs(sform[:3, 3] - qform[:3, 3]).max())
        if d_dir > QFORM_SFORM_DIRECTION_TOL or d_spacing > 1e-4 or d_org > 1e-2:
            raise GeometryError(
                f"{path}: the NIfTI qform and sform describe different positions (axes differ by {d_dir:.2e}, spacing "
                f"by {d_spacing:.2e}, origin by {d_org:.3g} mm); it is unclear which one is right. Re-save the image so "
                "both agree (e.g. nibabel img.set_qform(img.get_sform())) or from the scanner software."
            )
    if sform is not None and qform is None and ndim >= 3:
        _check_sform_scales(path, sform, np.asarray(sizes[:3]) * scale[0, 0])
    if sform is None and qform is None:
        warnings.warn(f"{path}: NIfTI header has neither qform nor sform; orientation is unknown and assumed.",
                      stacklevel=3)
        return None
    return sform if sform is not None else qform


def _check_sform_scales(path: Path, sform: np.ndarray, pixdim: np.ndarray) -> None:
    """Refuse pixdim[1..3] (mm) that are negative or differ from the sform's axis lengths (mm) by more than 0.01 %.

    ITK (3D Slicer) takes the voxel size from pixdim and only the axes from the sform; nibabel takes
    both from the sform. Such a file is drawn at two sizes, so which one is right must be decided by
    whoever made it.
    """
    scales = np.linalg.norm(sform[:3, :3], axis=0)
    if np.any(pixdim < 0):
        raise GeometryError(
            f"{path}: the NIfTI voxel size in pixdim ({pixdim.round(6).tolist()} mm) is negative; 3D Slicer and ITK "
            "then mirror that axis against the sform, other tools (nibabel) do not, so the image's placement is "
            "ambiguous. Re-save it with positive pixdim (e.g. nibabel img.header.set_zooms(...) with the sform's axis "
            "lengths)."
        )
    if np.abs(scales / pixdim - 1.0).max() > 1e-4:
        raise GeometryError(
            f"{path}: the NIfTI voxel size in pixdim ({pixdim.round(6).tolist()} mm) differs from the lengths of "
            f"the sform's axes ({scales.round(6).tolist()} mm); 3D Slicer and ITK use pixdim, other tools the sform, "
            "so the image's size is ambiguous. Re-save it so both agree (e.g. nibabel "
            "img.header.set_zooms(...) to the sform's axis lengths, or img.set_sform(...) to match pixdim)."
        )


def check_nifti_size(path: Path, header: Dict[str, Any]) -> None:
    """Reject a truncated NIfTI-1 file (ITK would silently return zeros for the missing voxels).

    The size expected is the datatype's bytes per voxel (what the NIfTI library under ITK reads), so a
    header whose bitpix understates the datatype cannot hide a short file.

    A ``.nii.gz`` is streamed through gzip once, which also catches corrupt streams and CRC errors.
    """
    if header.get("version") != 1:
        return
    dim = header["dim"]
    ndim = int(dim[0])
    if not 1 <= ndim <= 7 or any(int(d) < 1 for d in dim[1:ndim + 1]):
        raise InputError(f"{path}: invalid NIfTI dimensions {list(dim)}; the header is corrupt, re-export the image.")
    values = math.prod(int(d) for d in dim[1:ndim + 1])  # Python ints: no int64 wrap-around
    offset = float(header["vox_offset"])
    if not math.isfinite(offset):
        raise InputError(f"{path}: invalid NIfTI vox_offset {offset}; the header is corrupt, re-export the image.")
    # the NIfTI library reads the datatype's size per voxel, whatever bitpix says (and zero-fills a short file)
    per_voxel = nifti_bytes_per_voxel(header["datatype"])
    expected = int(offset) + (values * per_voxel if per_voxel else values * max(int(header["bitpix"]), 1) // 8)
    if is_gzip(path):
        actual = 0
        try:
            with gzip_open(path) as fh:
                while True:
                    chunk = fh.read(1 << 22)
                    if not chunk:
                        break
                    actual += len(chunk)
        except stream_errors() as exc:
            raise InputError(f"{path}: the gzip stream is corrupt or truncated ({exc}); re-export the file.") from None
    else:
        actual = path.stat().st_size
    if actual < expected:
        raise InputError(f"{path}: the file is truncated ({actual:,} of {expected:,} bytes of header and voxels); "
                         "copy or export it again.")
