"""Refuse NIfTI-1 headers that make SimpleITK crash the process, before SimpleITK opens the file.

The engine runs as a long-lived process inside 3D Slicer, so a segmentation fault in ITK's
NiftiImageIO ends the clinician's session without a message. A differential fuzzer (malformed
headers read in a child process, SimpleITK 2.5 / ITK 5.4, checked with valgrind) found these
header combinations, where ITK reads or writes past its voxel buffers. Large images segfault or
abort; small ones often come back with wrong voxels or a corrupted heap that crashes later, so
each combination is refused whatever the image size:

* colour or complex voxels (datatype RGB24, RGBA32, COMPLEX64/128) with a vector intent
  (``intent_code`` VECTOR, DISPVECT or SYMMATRIX): ITK takes the component count from ``dim[5]``
  and the voxel size from the datatype, and the two disagree;
* RGB24 / RGBA32 voxels with a rescale (``scl_slope`` other than 0 or 1, or ``scl_inter`` other
  than 0): ITK turns them into float vectors and copies four times the bytes it has;
* colour voxels with ``dim[5..7]`` > 1 (a 5-D or higher colour image), whatever the intent;
* a vector image (vector intent, ``dim[5]`` > 1) with a rescale: integer voxels overrun the
  float copy; float voxels come back with only the first 1/``dim[5]`` of the buffer rescaled
  (wrong values, no crash), so they are refused as well.

ITK ignores intent and rescale when the magic is not a NIfTI one (``n+1 `` reads as Analyze 7.5),
so those rules apply to proper NIfTI magics only. Complex voxels (which the engine cannot use,
and which were refused after reading before) and datatype codes ITK does not know (which ITK
refused) are refused here too, so no unusual voxel type reaches ITK's reader. Nothing that reads
correctly today is refused: plain RGB/RGBA volumes, 4-D series of them, 5-D headers with one
component, and vector images without a rescale still go to SimpleITK.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict

from ..errors import InputError

__all__ = ["check_nifti_crash_prone", "check_before_itk", "nifti_bytes_per_voxel", "DATATYPE_NAMES"]

#: NIfTI-1 datatype code -> (name, bytes per voxel) for every code the NIfTI-1 standard defines
DATATYPE_NAMES = {
    1: ("BINARY", 0), 2: ("UINT8", 1), 4: ("INT16", 2), 8: ("INT32", 4), 16: ("FLOAT32", 4), 32: ("COMPLEX64", 8),
    64: ("FLOAT64", 8), 128: ("RGB24", 3), 256: ("INT8", 1), 512: ("UINT16", 2), 768: ("UINT32", 4),
    1024: ("INT64", 8), 1280: ("UINT64", 8), 1536: ("FLOAT128", 16), 1792: ("COMPLEX128", 16),
    2048: ("COMPLEX256", 32), 2304: ("RGBA32", 4),
}
_READABLE = {2, 4, 8, 16, 64, 128, 256, 512, 768, 1024, 1280, 2304}  # what ITK reads and the engine can use
_COLOUR = {128, 2304}
_COMPLEX = {32, 1792, 2048}
#: intent codes for which ITK takes the number of components from dim[5]
_VECTOR_INTENTS = {1005: "SYMMATRIX", 1006: "DISPVECT", 1007: "VECTOR"}

_SCALAR_REMEDY = ("Re-save it as a scalar 3-D volume (e.g. with nibabel, or load it in 3D Slicer and save it as "
                  "NRRD or NIfTI).")
_COLOUR_REMEDY = ("Re-save it as a plain 3-D RGB volume or a scalar 3-D volume (e.g. with nibabel, or load it in "
                  "3D Slicer and save it as NRRD or NIfTI).")


def nifti_bytes_per_voxel(datatype: int) -> int:
    """Bytes per voxel the NIfTI library reads for ``datatype`` (0 when the code is unknown or BINARY)."""
    return DATATYPE_NAMES.get(int(datatype), ("", 0))[1]


def _name(datatype: int) -> str:
    return f"{datatype} ({DATATYPE_NAMES[datatype][0]})" if datatype in DATATYPE_NAMES else str(datatype)


def _rescales(header: Dict[str, Any]) -> bool:
    """Whether ITK may rescale: any slope other than exactly 0, 1 or NaN, or any intercept other than 0.

    Deliberately wider than ITK's own test (which ignores values within double epsilon of 0 and 1):
    on the headers checked here a slope of 1e-30 is as corrupt as one of 2, and an overrun is not worth
    the margin.
    """
    slope, intercept = float(header["scl_slope"]), float(header["scl_inter"])
    return not (slope in (0.0, 1.0) or math.isnan(slope)) or intercept != 0.0


def check_nifti_crash_prone(path: Path, header: Dict[str, Any]) -> None:
    """Raise :class:`InputError` for a NIfTI-1 header that SimpleITK cannot read without crashing.

    Runs on the raw header fields only (no ITK call). NIfTI-2 headers (refused elsewhere) pass.

    Args:
        path: the file, named in the message.
        header: :func:`._nifti.read_nifti_header` fields (``datatype``, ``intent_code``, ``dim``,
            ``scl_slope``, ``scl_inter``, ``magic``).

    Raises:
        InputError: naming the header field, its value and what to do instead.
    """
    if header.get("version") != 1:
        return
    datatype, intent = int(header["datatype"]), int(header["intent_code"])
    dim = [int(d) for d in header["dim"]]
    if datatype in _COMPLEX:
        raise InputError(f"{path}: NIfTI datatype {_name(datatype)} holds complex voxels, which cannot be segmented. "
                         "Save real-valued voxels (e.g. the magnitude) as a scalar 3-D volume.")
    if datatype not in _READABLE:
        raise InputError(f"{path}: NIfTI datatype {_name(datatype)} is not a voxel type this reader supports (the "
                         f"header is corrupt or from an unusual tool). {_SCALAR_REMEDY}")
    proper = bytes(header.get("magic", b""))[3:4] == b"\0"  # otherwise ITK reads Analyze 7.5: no intent, no rescale
    vector = proper and intent in _VECTOR_INTENTS
    ndim = dim[0] if 1 <= dim[0] <= 7 else 0
    beyond = [dim[k] for k in range(5, ndim + 1)]  # ITK counts dims past dim[0] as 1
    if datatype in _COLOUR:
        if vector:
            raise InputError(f"{path}: NIfTI intent_code {intent} ({_VECTOR_INTENTS[intent]}) with datatype "
                             f"{_name(datatype)}: a vector image of colour voxels, which SimpleITK cannot read "
                             f"safely (it overruns memory and can crash the program). {_COLOUR_REMEDY}")
        if proper and _rescales(header):
            raise InputError(f"{path}: NIfTI scl_slope {header['scl_slope']:g} / scl_inter {header['scl_inter']:g} "
                             f"on datatype {_name(datatype)} voxels: SimpleITK cannot rescale colour voxels safely "
                             "(it overruns memory and can crash the program). Re-save the image with scl_slope 0 "
                             "or 1 and scl_inter 0 (e.g. with nibabel), or as a scalar 3-D volume.")
        if any(d > 1 for d in beyond):
            raise InputError(f"{path}: NIfTI dim {dim} gives datatype {_name(datatype)} voxels a dimension beyond "
                             f"the 4th (dim[5..7] > 1), which SimpleITK cannot read safely (it overruns memory and "
                             f"can crash the program). {_COLOUR_REMEDY}")
    components = dim[5] if ndim >= 5 else 1
    if vector and components > 1 and _rescales(header):
        raise InputError(f"{path}: NIfTI vector image (intent_code {intent} {_VECTOR_INTENTS[intent]}, dim[5] = "
                         f"{components} components) of datatype {_name(datatype)} voxels with scl_slope "
                         f"{header['scl_slope']:g} / scl_inter {header['scl_inter']:g}: SimpleITK cannot rescale "
                         "vector voxels (integer ones overrun memory and can crash the program, float ones come back "
                         "partly unscaled). Re-save it with float32 voxels and the scaling applied (scl_slope 1, "
                         "scl_inter 0), or as separate scalar 3-D volumes.")


def check_before_itk(path: Path) -> None:
    """Refuse a NIfTI-1 file that SimpleITK would crash on or silently zero-fill, before any ITK read.

    For callers that hand a file to ``SimpleITK.ReadImage`` themselves (the training package's
    volume loaders); :func:`SDSegLogic.io.read_image` runs the same checks. Other formats pass.

    Args:
        path: the image file (any format; only NIfTI is checked).

    Raises:
        InputError: a crash-prone header (:func:`check_nifti_crash_prone`) or a truncated file.
    """
    from ._nifti import check_nifti_size, read_nifti_header
    from .sniff import detect_format

    path = Path(path)
    if detect_format(path) != "nifti":
        return
    header = read_nifti_header(path)
    check_nifti_crash_prone(path, header)
    check_nifti_size(path, header)
