"""NRRD reading with pynrrd: header checks, geometry, colour and 4-D axes."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import GeometryError, InputError
from ..geometry import ImageGeometry

__all__ = ["read_nrrd_header", "nrrd_voxel_count", "read_nrrd"]

_LPS_SPACES = ("left-posterior-superior", "lps")
_RAS_SPACES = ("right-anterior-superior", "ras")
_COLOUR_KINDS = ("rgb-color", "rgba-color", "3-color", "4-color", "3-vector", "4-vector", "vector")


def read_nrrd_header(path: Path) -> Dict[str, Any]:
    """Parse only the header; reject detached data outside the header's folder (untrusted input)."""
    import nrrd

    try:
        header = nrrd.read_header(str(path))
    except (nrrd.NRRDError, ValueError, UnicodeDecodeError, IndexError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: invalid NRRD header ({exc}); re-export the image.") from None
    data_file = header.get("data file") or header.get("datafile")
    if data_file is not None:
        folder = path.resolve().parent
        names = [data_file] if isinstance(data_file, str) else list(data_file)
        for name in names:
            target = (folder / str(name).split(" ")[0]).resolve()
            if folder not in target.parents:
                raise InputError(
                    f"{path}: the detached header points to data outside its folder ({name!r}); only data files "
                    "next to the .nhdr are read. Save the image as a single .nrrd file."
                )
    return header


def nrrd_voxel_count(header: Dict[str, Any]) -> int:
    """Number of values (all axes, colour included) the header announces."""
    return int(np.prod([int(s) for s in header["sizes"]], dtype=np.int64))


def _spatial_axes(header: Dict[str, Any]) -> Tuple[list, list]:
    """Indices (header/Fortran order) of spatial and non-spatial axes."""
    dim = int(header["dimension"])
    kinds = [str(k).lower() for k in header.get("kinds", ["domain"] * dim)]
    directions = header.get("space directions")
    spatial = []
    for axis in range(dim):
        if directions is not None:
            row = np.asarray(directions[axis], dtype=np.float64)
            is_spatial = row.size > 0 and np.all(np.isfinite(row))
        else:
            is_spatial = kinds[axis] in ("domain", "space")
        if is_spatial:
            spatial.append(axis)
    others = [a for a in range(dim) if a not in spatial]
    return spatial, others


def _geometry(header: Dict[str, Any], spatial: list, path: Path) -> ImageGeometry:
    sizes = [int(header["sizes"][a]) for a in spatial]
    space = header.get("space")
    directions = header.get("space directions")
    if directions is None:
        spacings = header.get("spacings")
        spacing = [float(spacings[a]) if spacings is not None and np.isfinite(spacings[a]) else 1.0 for a in spatial]
        while len(spacing) < 3:
            spacing.append(1.0)
            sizes.append(1)
        warnings.warn(f"{path}: no 'space' or 'space directions' in the NRRD header; assuming an axis-aligned LPS grid "
                      "at the origin.", stacklevel=3)
        return ImageGeometry(tuple(spacing), (0.0, 0.0, 0.0), np.eye(3), tuple(sizes))
    ndim_space = len(np.asarray(directions[spatial[0]]))
    if space is not None:
        space = str(space).lower()
        if space in _RAS_SPACES:
            flip = np.array([-1.0, -1.0, 1.0])
        elif space in _LPS_SPACES:
            flip = np.ones(3)
        else:
            raise InputError(
                f"{path}: NRRD space {header.get('space')!r} is not supported; only 'left-posterior-superior' and "
                "'right-anterior-superior' have a defined patient frame. Re-save the image from 3D Slicer or SimpleITK."
            )
    elif ndim_space in (2, 3):
        flip = np.ones(3)
        warnings.warn(f"{path}: NRRD has 'space dimension' but no 'space'; assuming LPS.", stacklevel=3)
    else:
        raise InputError(f"{path}: NRRD space dimension {ndim_space} is not 2 or 3; give a 2-D or 3-D image.")
    vectors = np.zeros((3, 3))
    for c, axis in enumerate(spatial):
        row = np.asarray(directions[axis], dtype=np.float64)
        vectors[: row.size, c] = row
    origin = np.zeros(3)
    if header.get("space origin") is not None:
        o = np.asarray(header["space origin"], dtype=np.float64)
        origin[: o.size] = o
    if len(spatial) == 2:
        vectors[:, 2] = np.cross(vectors[:, 0], vectors[:, 1])
        norm = np.linalg.norm(vectors[:, 2])
        vectors[:, 2] = vectors[:, 2] / norm if norm > 0 else (0.0, 0.0, 1.0)
        sizes.append(1)
    elif len(spatial) != 3:
        raise InputError(f"{path}: {len(spatial)} spatial axes; give a 2-D or 3-D image.")
    vectors = vectors * flip[:, None]
    origin = origin * flip
    spacing = np.linalg.norm(vectors, axis=0)
    if np.any(spacing <= 0):
        raise GeometryError(f"{path}: a 'space directions' vector is zero ({vectors.T.tolist()}); fix the header.")
    try:
        return ImageGeometry(tuple(spacing), tuple(origin), vectors / spacing, tuple(sizes))
    except GeometryError as exc:
        raise GeometryError(f"{path}: {exc}") from None


def read_nrrd(path: Path, header: Dict[str, Any], frame: Optional[int]) -> Tuple[np.ndarray, ImageGeometry, Dict[str, Any]]:
    """Read voxels and geometry.

    Returns:
        ``(array, geometry, facts)``: array (K, J, I) or (K, J, I, C) in the file's dtype, where C is
        the colour axis; ``facts`` has ``kind`` (``"scalar"``, ``"colour"``) and the original dtype.

    Raises:
        InputError: corrupt data, 4-D without ``frame``, more than one non-spatial axis.
    """
    import nrrd

    if path.name.lower().endswith(".seg.nrrd"):
        raise InputError(f"{path}: this is a Slicer segmentation, not an image; give the image it was drawn on.")
    spatial, others = _spatial_axes(header)
    geometry = _geometry(header, spatial, path)
    if len(others) > 1:
        raise InputError(f"{path}: {len(others)} non-spatial axes (kinds {header.get('kinds')}); give a 3-D image.")
    try:
        data, _ = nrrd.read(str(path), index_order="F")
    except Exception as exc:  # pynrrd raises NRRDError, ValueError, zlib/EOF errors on corrupt data
        raise InputError(f"{path}: the NRRD data cannot be read ({type(exc).__name__}: {exc}); the file is "
                         "truncated or corrupt, re-export it.") from None
    if data.dtype.fields is not None:
        raise InputError(f"{path}: structured voxel type {data.dtype} is not supported; save scalar voxels.")
    facts: Dict[str, Any] = {"kind": "scalar", "original_dtype": str(data.dtype), "kinds": header.get("kinds")}
    # Fortran order (x, y, z) -> move any non-spatial axis last, then reverse the spatial axes to (K, J, I)
    data = np.moveaxis(data, spatial + others, list(range(data.ndim)))
    if len(spatial) == 2:
        data = np.expand_dims(data, 2)
    data = np.transpose(data, (2, 1, 0) + tuple(range(3, data.ndim)))
    if others:
        kind = str(header.get("kinds", ["?"] * 8)[others[0]]).lower()
        count = data.shape[-1]
        if count == 1:
            data = data[..., 0]
        elif kind in _COLOUR_KINDS and count in (3, 4):
            facts["kind"] = "colour"
        else:
            if frame is None:
                raise InputError(
                    f"{path}: 4-D image with {count} frames (axis kind {kind!r}); choose one with frame=0..{count - 1} "
                    "(--frame on the command line), or save a single 3-D volume."
                )
            if not 0 <= frame < count:
                raise InputError(f"{path}: frame={frame} is out of range; the image has frames 0..{count - 1}.")
            data = data[..., frame]
            facts["frame"] = frame
    return data, geometry, facts
