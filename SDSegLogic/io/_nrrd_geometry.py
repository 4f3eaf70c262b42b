"""The voxel grid of a NRRD header in LPS, as ITK's NrrdImageIO (and so 3D Slicer) places it.

Which header axes are the volume's i, j, k (:func:`_spatial_axes`, an ITK-written time axis set
aside), then spacing, direction and origin from ``space directions`` / ``space origin`` (RAS and
LAS spaces converted to LPS; of the spaces with time, which ITK does not convert, LPS-time only,
:func:`_time_space_flip`), or, without directions, from ``spacings`` and ``axis mins`` (or a
``space origin``), read as ITK reads them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import GeometryError, InputError
from ..geometry import ImageGeometry
from ._plane import plane_normal

__all__ = ["nrrd_grid"]

_LPS_SPACES = ("left-posterior-superior", "lps")
_RAS_SPACES = ("right-anterior-superior", "ras")
_LAS_SPACES = ("left-anterior-superior", "las")
#: patient spaces with time (``space dimension`` 4), by the names teem reads
_TIME_SPACES = ("left-posterior-superior-time", "lpst", "right-anterior-superior-time", "rast",
                "left-anterior-superior-time", "last")


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
    if directions is None and len(spatial) > 3:  # no geometry: like ITK, axes after the third are frames
        spatial = spatial[:3]
    elif directions is not None and len(spatial) == 4:
        spatial = _itk_time_axis_removed(directions, spatial)
    others = [a for a in range(dim) if a not in spatial]
    return spatial, others


def nrrd_grid(header: Dict[str, Any], path: Path) -> Tuple[ImageGeometry, list, list]:
    """``(geometry in LPS, spatial axes, other axes)`` of a NRRD header; axes in header order (x first)."""
    spatial, others = _spatial_axes(header)
    return _geometry(header, spatial, path), spatial, others


def _itk_time_axis_removed(directions: Any, axes: list) -> list:
    """The three space axes of an ITK-written 4-D NRRD (``space dimension: 4``), else ``axes`` unchanged.

    ITK (SimpleITK ``JoinSeries``, 4-D CT or cine) writes a 4-D grid whose fourth axis is time:
    its direction is ``(0,0,0,dt)`` and the three space axes have no time component. Those three
    axes form the volume; the time axis holds the frames.
    """
    rows = {a: np.asarray(directions[a], dtype=np.float64) for a in axes}
    if any(row.size != 4 for row in rows.values()):
        return axes
    time_axes = [a for a, row in rows.items() if np.all(row[:3] == 0) and row[3] != 0]
    space_axes = [a for a, row in rows.items() if row[3] == 0 and np.any(row[:3] != 0)]
    if len(time_axes) == 1 and len(space_axes) == 3:
        return space_axes
    return axes


def _check_spacings(header: Dict[str, Any], path: Path) -> None:
    """Refuse ``spacings`` that a patient space or a direction makes ambiguous, as ITK (and so 3D Slicer) does.

    A finite spacing on an axis that also has a ``space directions`` vector gives two step lengths (ITK: "can't
    have min, max, spacing"); a finite spacing in a header with a ``space`` (or ``space dimension``) but no
    directions says how far apart voxels are but not which way the axes run in that space (ITK:
    ``nrrdSpacingStatusScalarWithSpace``).

    Raises:
        GeometryError: naming the axis, its spacing and the remedy.
    """
    spacings = _field(header, "spacings")
    if spacings is None:
        return
    finite = [a for a, v in enumerate(spacings) if np.isfinite(float(v))]
    directions = header.get("space directions")
    if directions is not None:
        both = [a for a in finite if np.all(np.isfinite(np.asarray(directions[a], dtype=np.float64)))
                and np.asarray(directions[a]).size > 0]
        if both:
            axis = both[0]
            raise GeometryError(f"{path}: NRRD axis {axis} has both a 'space directions' vector "
                                f"{np.asarray(directions[axis]).tolist()} and a spacing {float(spacings[axis]):g}, "
                                "two step lengths for one axis (ITK and 3D Slicer refuse the file). Set its spacing to "
                                "nan (or drop the 'spacings' field) and keep the step in 'space directions'.")
    elif finite and (header.get("space") is not None or _field(header, "space dimension") is not None):
        raise GeometryError(f"{path}: the NRRD header has a 'space' but 'spacings' ({float(spacings[finite[0]]):g} on "
                            f"axis {finite[0]}) instead of 'space directions', so which way each axis runs in that "
                            "space is not given (ITK and 3D Slicer refuse the file). Replace 'spacings' by 'space "
                            "directions' (e.g. (1,0,0) (0,1,0) (0,0,1) scaled by the spacings) with a 'space origin', "
                            "or remove 'space' to read an axis-aligned grid.")


def _geometry(header: Dict[str, Any], spatial: list, path: Path) -> ImageGeometry:
    _check_spacings(header, path)
    sizes = [int(header["sizes"][a]) for a in spatial]
    space = header.get("space")
    directions = header.get("space directions")
    if directions is None:
        spacings = _field(header, "spacings")
        spacing = [float(spacings[a]) if spacings is not None and np.isfinite(spacings[a]) else 1.0 for a in spatial]
        origin, where = _origin_without_directions(header, spatial, path)
        while len(spacing) < 3:
            spacing.append(1.0)
            sizes.append(1)
        missing = "'space directions'" if space is not None else "'space' or 'space directions'"
        warnings.warn(f"{path}: no {missing} in the NRRD header; assuming an axis-aligned LPS grid at {where}.",
                      stacklevel=3)
        signs = [-1.0 if v < 0 else 1.0 for v in spacing]  # a negative spacing runs the axis backwards, as in ITK
        try:
            return ImageGeometry(tuple(abs(v) for v in spacing), tuple(origin), np.diag(signs), tuple(sizes))
        except GeometryError as exc:
            raise GeometryError(f"{path}: {exc}") from None
    ndim_space = len(np.asarray(directions[spatial[0]]))
    if space is not None:
        flip = _space_flip(space)
        if flip is None and str(space).lower() in _TIME_SPACES:
            flip = _time_space_flip(space, ndim_space, spatial, header, path)
        if flip is None:
            raise InputError(
                f"{path}: NRRD space {header.get('space')!r} is not supported: it does not say which way the patient "
                "lies. Only the patient spaces left-posterior-superior, right-anterior-superior and "
                "left-anterior-superior (and left-posterior-superior-time, frame by frame) are read. Re-save the "
                "image from 3D Slicer or SimpleITK."
            )
    elif ndim_space in (2, 3) or (ndim_space == 4 and len(spatial) == 3):  # 4: ITK's space + time (above)
        flip = np.ones(3)
        warnings.warn(f"{path}: NRRD has 'space dimension' but no 'space'; assuming LPS.", stacklevel=3)
    else:
        raise InputError(f"{path}: NRRD space dimension {ndim_space} is not 2 or 3 (nor 3-D space plus time); give "
                         "a 2-D or 3-D image.")
    vectors = np.zeros((3, 3))
    for c, axis in enumerate(spatial):
        row = np.asarray(directions[axis], dtype=np.float64)[:3]
        vectors[: row.size, c] = row
    origin = np.zeros(3)
    if header.get("space origin") is not None:
        o = np.asarray(header["space origin"], dtype=np.float64)[:3]  # a fourth entry is the time origin
        origin[: o.size] = o
    if len(spatial) == 2:  # the plane's unit normal, toward superior (+z) as ITK, so Slicer, completes a 2-D image
        vectors[:, 2] = plane_normal(vectors[:, 0], vectors[:, 1])
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


def _field(header: Dict[str, Any], name: str) -> Any:
    """A per-axis field under its NRRD name or its older spelling without spaces (``axis mins``, ``axismins``)."""
    value = header.get(name)
    return value if value is not None else header.get(name.replace(" ", ""))


def _space_flip(space: Any) -> Optional[np.ndarray]:
    """Signs that turn coordinates of the NRRD ``space`` into LPS; ``None`` for a space that is not a patient space."""
    name = str(space).lower()
    if name in _RAS_SPACES:
        return np.array([-1.0, -1.0, 1.0])
    if name in _LAS_SPACES:
        return np.array([1.0, -1.0, 1.0])
    if name in _LPS_SPACES:
        return np.ones(3)
    return None


def _time_space_flip(space: Any, ndim_space: int, spatial: list, header: Dict[str, Any], path: Path) -> np.ndarray:
    """LPS signs (all 1) of a ``left-posterior-superior-time`` grid whose time axis is set aside; else refused.

    ITK's NrrdImageIO reads a patient space with time as a 4-D grid (three space axes, one time axis) and, unlike
    the 3-D patient spaces, converts no coordinate to LPS: an LPS-time file lands where it says, a RAS-time or
    LAS-time file is mirrored (3D Slicer's sequence reader refuses all of them: four domain axes).

    Raises:
        InputError: a RAS-time or LAS-time space (the tools disagree on where it lies), or a time space whose
            four axes are not three space axes and one time axis; each naming the remedy.
    """
    name = str(space).lower()
    remedy = ("Re-save it as a 3-D patient space with the time axis as a list: 'space: {}', three-component 'space "
              "directions' and 'space origin' (drop the fourth, time, component), 'none' as the time axis's "
              "direction and 'list' as its kind; 3D Slicer then loads it as a sequence.")
    plain = name.replace("-time", "") if "-" in name else {"lpst": "lps", "rast": "ras", "last": "las"}[name]
    if name not in ("left-posterior-superior-time", "lpst"):
        mirrored = "left-right and front-back" if plain == "ras" or name.startswith("right") else "front-back"
        raise InputError(
            f"{path}: NRRD space {space!r} is a patient space with a time axis; ITK (and so SimpleITK) places such a "
            f"file without converting it to LPS, mirrored {mirrored}, and 3D Slicer's sequence reader "
            "refuses it, so where it lies depends on the tool and SDSeg does not read it. "
            + remedy.format(_long_name(plain)))
    rows = [np.asarray(row, dtype=np.float64) for row in header["space directions"]]
    four = [row for row in rows if row.size == 4 and np.all(np.isfinite(row))]  # 'none' rows are NaN
    if ndim_space != 4 or len(spatial) != 3 or len(four) != 4:
        raise InputError(f"{path}: NRRD space {space!r} needs four axes, three in space and one in time (direction "
                         "(0,0,0,dt)), as ITK reads it; this header has "
                         f"{len(four)} axes with four-component directions. " + remedy.format("left-posterior-superior"))
    return np.ones(3)


def _long_name(short: str) -> str:
    """The long NRRD name of a 3-D patient space (``ras`` -> ``right-anterior-superior``)."""
    return {"lps": "left-posterior-superior", "ras": "right-anterior-superior", "las": "left-anterior-superior"}.get(
        short, short)


def _origin_without_directions(header: Dict[str, Any], spatial: list, path: Path) -> Tuple[np.ndarray, str]:
    """``(LPS origin, where it came from)`` of a NRRD without ``space directions``, as ITK's NrrdImageIO sets it.

    ITK (and so 3D Slicer) takes the ``space origin`` when the header has one (converted to LPS
    for a RAS or LAS ``space``; other spaces as written). Without a space, it takes the centre of
    the first voxel from the ``axis mins``: ``min + spacing / 2`` for cell-centred axes (the
    default), ``min`` for node-centred ones, the spacing being ``spacings`` or else
    ``(max - min) / size``; only when the first domain axis has a min and every one a spacing or max.

    Args:
        header: pynrrd header; ``spatial``: the header axes (x first) of the volume's i, j, k.

    Returns:
        float64 (3,) origin (zeros where the header places nothing) and a phrase for the warning.

    Raises:
        GeometryError: ``axis mins`` that place some spatial axes but not all (ITK's origin is NaN on the others).
    """
    origin = np.zeros(3)
    space_origin = _field(header, "space origin")
    if header.get("space") is not None or space_origin is not None or _field(header, "space dimension") is not None:
        values = np.asarray(space_origin if space_origin is not None else [], dtype=np.float64)[:3]
        if values.size == 0 or not np.all(np.isfinite(values)):
            return origin, "the origin"
        flip = _space_flip(header.get("space")) if header.get("space") is not None else None
        origin[:values.size] = values * (flip[:values.size] if flip is not None else 1.0)
        return origin, "its 'space origin'"
    dim = int(header["dimension"])
    kinds = [str(k).lower() for k in header.get("kinds", ["domain"] * dim)]
    domain = [a for a in range(dim) if kinds[a] in ("domain", "space", "time", "???", "none")]
    mins, maxs = _field(header, "axis mins"), _field(header, "axis maxs")
    spacings, centers = _field(header, "spacings"), _field(header, "centers") or _field(header, "centerings")
    centers = centers.split() if isinstance(centers, str) else centers  # pynrrd leaves this field as text

    def finite(values: Any, axis: int) -> bool:
        return values is not None and axis < len(values) and bool(np.isfinite(float(values[axis])))

    # teem's test, which ITK uses: a min on the first domain axis, a spacing or max on every one
    if not domain or not finite(mins, domain[0]) or not all(finite(spacings, a) or finite(maxs, a) for a in domain):
        return origin, "the origin"
    for c, axis in enumerate(spatial):
        if not finite(mins, axis):  # ITK's origin is NaN there: a half-placed grid, not one to guess
            given = mins[axis] if axis < len(mins) else "missing"
            raise GeometryError(f"{path}: the NRRD 'axis mins' place some axes but not axis {axis} ({given}), so ITK "
                                "and 3D Slicer give it a NaN origin. Give every spatial axis a min in 'axis mins', "
                                "or replace them by 'space', 'space directions' and 'space origin'.")
        low = float(mins[axis])
        if centers is not None and axis < len(centers) and str(centers[axis]).lower() == "node":
            origin[c] = low
            continue
        size = int(header["sizes"][axis])
        step = float(spacings[axis]) if finite(spacings, axis) else (float(maxs[axis]) - low) / size
        origin[c] = low + step / 2
    return origin, "its 'axis mins'"
