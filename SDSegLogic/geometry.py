"""Voxel grids in patient space (LPS), orientation codes and axis-only reorientation.

Conventions used everywhere in the engine:

* The world frame is LPS (x to patient Left, y to Posterior, z to Superior), as in ITK, DICOM and
  NRRD files; RAS (Slicer's internal frame, NIfTI) is reached with :func:`lps_to_ras`.
* Voxel axes are i (column), j (row), k (slice). ``spacing``, ``origin`` and ``shape`` are given
  in (i, j, k) order, like SimpleITK's ``GetSpacing()``/``GetSize()``.
* NumPy arrays are indexed ``(K, J, I)`` = (slice, row, column), like
  ``SimpleITK.GetArrayFromImage`` and Slicer's ``arrayFromVolume``; colour images ``(K, J, I, 3)``.
* ``direction`` is a 3x3 matrix whose COLUMNS are the LPS unit vectors of axes i, j, k (ITK's
  direction cosines), so ``lps = origin + direction @ (spacing * ijk)``.
* Orientation codes name, per voxel axis, the patient direction the axis points TO: ``"LPS"``
  means i points Left, j Posterior, k Superior (ITK ``DICOMOrient`` / DICOM style); they are
  computed in :mod:`SDSegLogic.orientation` and re-exported here.

:func:`reorient` only permutes and flips voxel axes. It never resamples, keeps an oblique direction
matrix exactly (its columns are permuted and negated, nothing else), and returns a
:class:`ReorientPlan` whose :meth:`ReorientPlan.invert` is its exact inverse.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from .errors import GeometryError
from .orientation import closest_axes, obliquity_degrees, orientation_code, parse_orientation_code

__all__ = [
    "ImageGeometry", "ReorientPlan", "orientation_code", "closest_axes", "obliquity_degrees", "reorient",
    "plan_reorientation", "parse_orientation_code", "lps_to_ras", "ras_to_lps", "LPS_TO_RAS", "OBLIQUE_WARN_DEGREES",
]

#: 4x4 matrix turning LPS homogeneous coordinates into RAS (its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: Obliquity (degrees between a voxel axis and its nearest patient axis) above which we warn.
OBLIQUE_WARN_DEGREES = 1.0
_ORTHONORMAL_TOL = 1e-4


def _vec3(values: Sequence[float], name: str) -> Tuple[float, float, float]:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise GeometryError(f"{name} must be three finite numbers, got {values!r}.")
    return (float(arr[0]), float(arr[1]), float(arr[2]))


@dataclass(frozen=True)
class ImageGeometry:
    """The voxel grid of an image in LPS patient space (immutable; compare with ``==``).

    Attributes:
        spacing: voxel size in mm along i, j, k; every entry finite and > 0.
        origin: LPS position in mm of the centre of voxel (0, 0, 0).
        direction: 3x3 row-major tuple; column c is the LPS unit vector of voxel axis c.
            Must be orthonormal (tolerance 1e-4); may be oblique or left-handed.
        shape: number of voxels along i, j, k (I, J, K); the NumPy array is (K, J, I).
    """

    spacing: Tuple[float, float, float]
    origin: Tuple[float, float, float]
    direction: Tuple[Tuple[float, float, float], ...]
    shape: Tuple[int, int, int]

    def __post_init__(self) -> None:
        spacing = _vec3(self.spacing, "spacing")
        if min(spacing) <= 0:
            raise GeometryError(f"spacing {spacing} must be > 0 along every axis; fix the image header.")
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", _vec3(self.origin, "origin"))
        d = np.asarray(self.direction, dtype=np.float64)
        if d.size != 9 or not np.all(np.isfinite(d)):
            raise GeometryError(f"direction must be a finite 3x3 matrix, got {self.direction!r}.")
        d = d.reshape(3, 3)
        error = float(np.abs(d.T @ d - np.eye(3)).max())
        if error > _ORTHONORMAL_TOL:
            raise GeometryError(
                f"direction {d.round(6).tolist()} is not orthonormal (max |D^T D - I| = {error:.2e}); the header "
                "describes a sheared or scaled grid. Re-save the image with a rotation-only direction "
                "(e.g. resample it in 3D Slicer or with SimpleITK)."
            )
        object.__setattr__(self, "direction", tuple(tuple(float(v) for v in row) for row in d))
        shape = tuple(int(n) for n in self.shape)
        if len(shape) != 3 or min(shape) < 1:
            raise GeometryError(f"shape {self.shape!r} must be three positive voxel counts (I, J, K).")
        object.__setattr__(self, "shape", shape)

    # ------------------------------------------------------------------ construction
    @classmethod
    def identity(cls, shape: Sequence[int], spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> "ImageGeometry":
        """Axis-aligned LPS grid at the origin (used for 2-D photos)."""
        return cls(tuple(spacing), (0.0, 0.0, 0.0), tuple(map(tuple, np.eye(3))), tuple(shape))

    @classmethod
    def for_array(cls, array: np.ndarray) -> "ImageGeometry":
        """Axis-aligned LPS grid at the origin, spacing 1, for a (K, J, I[, C]) array (2-D pictures)."""
        return cls.identity((array.shape[2], array.shape[1], array.shape[0]))

    @classmethod
    def from_ijk_to_lps(cls, matrix: np.ndarray, shape: Sequence[int]) -> "ImageGeometry":
        """Build from a 4x4 (or 3x4) IJK->LPS matrix whose columns are spacing-scaled axes."""
        m = np.asarray(matrix, dtype=np.float64)
        axes = m[:3, :3]
        spacing = np.linalg.norm(axes, axis=0)
        if np.any(spacing <= 0) or not np.all(np.isfinite(spacing)):
            raise GeometryError(f"IJK->LPS matrix {m.round(6).tolist()} has a zero or invalid axis.")
        return cls(tuple(spacing), tuple(m[:3, 3]), axes / spacing, tuple(shape))

    # ------------------------------------------------------------------ views
    @property
    def direction_matrix(self) -> np.ndarray:
        """float64 (3, 3); columns are the LPS unit vectors of axes i, j, k."""
        return np.array(self.direction, dtype=np.float64)

    @property
    def array_shape(self) -> Tuple[int, int, int]:
        """NumPy shape (K, J, I) of a scalar array on this grid."""
        return (self.shape[2], self.shape[1], self.shape[0])

    @property
    def num_voxels(self) -> int:
        return int(self.shape[0]) * int(self.shape[1]) * int(self.shape[2])

    def ijk_to_lps(self) -> np.ndarray:
        """float64 (4, 4) homogeneous matrix from voxel index (i, j, k, 1) to LPS mm."""
        m = np.eye(4)
        m[:3, :3] = self.direction_matrix * np.asarray(self.spacing)
        m[:3, 3] = self.origin
        return m

    def ijk_to_ras(self) -> np.ndarray:
        """float64 (4, 4) homogeneous matrix from voxel index to RAS mm (Slicer, NIfTI)."""
        return LPS_TO_RAS @ self.ijk_to_lps()

    def index_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """Continuous voxel indices (N, 3) or (3,) in (i, j, k) order -> LPS points in mm, same shape."""
        ijk = np.asarray(ijk, dtype=np.float64)
        m = self.ijk_to_lps()
        return ijk @ m[:3, :3].T + m[:3, 3]

    def world_to_index(self, lps: np.ndarray) -> np.ndarray:
        """LPS points (N, 3) or (3,) in mm -> continuous (i, j, k) indices, same shape."""
        lps = np.asarray(lps, dtype=np.float64)
        m = self.ijk_to_lps()
        return (lps - m[:3, 3]) @ np.linalg.inv(m[:3, :3]).T

    def orientation_code(self) -> str:
        """Closest orientation code, e.g. ``"LPS"`` for an identity direction."""
        return orientation_code(self.direction_matrix)

    def obliquity_degrees(self) -> float:
        """Largest angle in degrees between a voxel axis and its closest patient axis."""
        return obliquity_degrees(self.direction_matrix)

    def require_same(self, other: "ImageGeometry", what: str = "image", spacing_rtol: float = 1e-6,
                     direction_atol: float = 1e-6, origin_atol: float = 1e-4) -> None:
        """Raise :class:`GeometryError` unless ``other`` is the same grid (guarantee G2).

        Tolerances: spacing relative 1e-6, direction absolute 1e-6, origin absolute 1e-4 mm.
        """
        problems = []
        if tuple(self.shape) != tuple(other.shape):
            problems.append(f"shape {other.shape} != {self.shape}")
        if np.any(np.abs(np.subtract(other.spacing, self.spacing)) > spacing_rtol * np.abs(self.spacing)):
            problems.append(f"spacing {other.spacing} != {self.spacing}")
        if np.abs(other.direction_matrix - self.direction_matrix).max() > direction_atol:
            problems.append(f"direction {other.direction} != {self.direction}")
        if np.abs(np.subtract(other.origin, self.origin)).max() > origin_atol:
            problems.append(f"origin {other.origin} != {self.origin}")
        if problems:
            raise GeometryError(
                f"{what} is not on the reference grid: " + "; ".join(problems)
                + ". Resample it onto the reference image first."
            )


# ---------------------------------------------------------------------- reorientation
@dataclass(frozen=True)
class ReorientPlan:
    """A permutation + flip of voxel axes, and how to undo it exactly.

    Attributes:
        source: geometry of the input array (returned unchanged by :meth:`invert_geometry`).
        target: geometry of the reoriented array (direction columns permuted/negated exactly).
        axes: for each target voxel axis t (i, j, k), the source voxel axis it comes from.
        flips: for each target voxel axis t, whether it runs opposite to its source axis.
        source_code / target_code: orientation codes before and after.
        obliquity: degrees between the grid and the patient axes (unchanged by reorientation).
    """

    source: ImageGeometry
    target: ImageGeometry
    axes: Tuple[int, int, int]
    flips: Tuple[bool, bool, bool]
    source_code: str
    target_code: str
    obliquity: float

    @property
    def is_identity(self) -> bool:
        return self.axes == (0, 1, 2) and not any(self.flips)

    @property
    def slice_source_axis(self) -> int:
        """Source voxel axis (0=i, 1=j, 2=k) that becomes the slicing axis k of the target."""
        return self.axes[2]

    def describe(self) -> str:
        """One line for logs, e.g. ``'RAS -> LPS: i<--i, j<--j, k<-k (no resampling)'`` (``-`` = flipped)."""
        if self.is_identity:
            return f"{self.source_code} -> {self.target_code}: unchanged"
        names = "ijk"
        parts = [f"{names[t]}<-{'-' if self.flips[t] else ''}{names[a]}" for t, a in enumerate(self.axes)]
        extra = f", oblique by {self.obliquity:.1f} deg kept exactly" if self.obliquity > 1e-6 else ""
        return f"{self.source_code} -> {self.target_code}: {', '.join(parts)} (no resampling{extra})"

    def apply(self, array: np.ndarray, leading: int = 0) -> np.ndarray:
        """Reorient an array on the source grid.

        Args:
            array: (..., K, J, I, ...) with ``leading`` non-spatial axes before the three spatial
                ones and any number after (e.g. (K, J, I, 3) RGB, (C, K, J, I) probabilities).
            leading: number of leading non-spatial axes.

        Returns:
            A view (no copy) on the target grid, spatial shape ``target.array_shape``.
        """
        _check_spatial(array, leading, self.source)
        # target numpy axis n is voxel axis t = 2 - n, which is source voxel axis axes[t] = numpy axis 2 - axes[t]
        spatial = [leading + 2 - self.axes[2 - n] for n in range(3)]
        order = list(range(leading)) + spatial + list(range(leading + 3, array.ndim))
        out = np.transpose(array, order)
        flip_axes = tuple(leading + 2 - t for t in range(3) if self.flips[t])
        return np.flip(out, axis=flip_axes) if flip_axes else out

    def invert(self, array: np.ndarray, leading: int = 0) -> np.ndarray:
        """Exact inverse of :meth:`apply`: an array on the target grid back onto the source grid."""
        _check_spatial(array, leading, self.target)
        flip_axes = tuple(leading + 2 - t for t in range(3) if self.flips[t])
        out = np.flip(array, axis=flip_axes) if flip_axes else array
        inverse = [0, 0, 0]
        for n in range(3):
            inverse[2 - self.axes[2 - n]] = n
        order = list(range(leading)) + [leading + inverse[n] for n in range(3)] + list(range(leading + 3, array.ndim))
        return np.transpose(out, order)

    def invert_geometry(self) -> ImageGeometry:
        """The source geometry itself (never recomputed from floats, guarantee G2)."""
        return self.source


def _check_spatial(array: np.ndarray, leading: int, geometry: ImageGeometry) -> None:
    shape = tuple(array.shape[leading:leading + 3])
    if shape != geometry.array_shape:
        raise GeometryError(
            f"array spatial shape {shape} (K, J, I) does not match the geometry {geometry.array_shape}; "
            "pass the array that belongs to this geometry."
        )


def plan_reorientation(geometry: ImageGeometry, target_code: str, slicing_axis: int = 2) -> ReorientPlan:
    """Work out how to permute/flip ``geometry``'s axes to match ``target_code`` (no data touched).

    ``slicing_axis``: the voxel axis to keep as the target's k axis when the grid lies halfway
    between two assignments (default k: a 45-degree series is cut along its stored slices).
    """
    target_axes, target_signs = parse_orientation_code(target_code)
    prefer = (int(slicing_axis), target_axes[2])
    world_of, sign_of = closest_axes(geometry.direction_matrix, prefer)
    source_for_world = {w: c for c, w in enumerate(world_of)}
    axes, flips = [], []
    for t in range(3):
        a = source_for_world[target_axes[t]]
        axes.append(a)
        flips.append(sign_of[a] != target_signs[t])
    d = geometry.direction_matrix
    spacing = np.asarray(geometry.spacing)
    shape = np.asarray(geometry.shape)
    new_dir = np.stack([d[:, a] * (-1.0 if f else 1.0) for a, f in zip(axes, flips)], axis=1)
    corner = np.zeros(3)
    for a, f in zip(axes, flips):
        corner[a] = shape[a] - 1 if f else 0
    target = ImageGeometry(
        spacing=tuple(spacing[axes]),
        origin=tuple(geometry.index_to_world(corner)),
        direction=new_dir,
        shape=tuple(shape[axes]),
    )
    return ReorientPlan(
        source=geometry,
        target=target,
        axes=tuple(axes),
        flips=tuple(bool(f) for f in flips),
        source_code=orientation_code(d, prefer),
        target_code=str(target_code).upper(),
        obliquity=geometry.obliquity_degrees(),
    )


def reorient(array: np.ndarray, geometry: ImageGeometry, target_code: str,
             leading: int = 0) -> Tuple[np.ndarray, ImageGeometry, ReorientPlan]:
    """Permute and flip voxel axes so the grid is closest to ``target_code``; never resamples.

    Args:
        array: (K, J, I) or (K, J, I, C) array on ``geometry`` (``leading`` extra axes in front).
        geometry: its grid in LPS.
        target_code: e.g. ``"LPS"`` (i to Left, j to Posterior, k to Superior: axial slices).
        leading: number of non-spatial axes before (K, J, I).

    Returns:
        ``(reoriented array (a view), reoriented geometry, plan)``; ``plan.invert(x)`` undoes the
        array change exactly and ``plan.source`` is the input geometry. An oblique grid keeps its
        exact direction columns (permuted and negated); a warning reports obliquity above
        :data:`OBLIQUE_WARN_DEGREES`.
    """
    plan = plan_reorientation(geometry, target_code)
    if plan.obliquity > OBLIQUE_WARN_DEGREES:
        warnings.warn(
            f"the image grid is oblique by {plan.obliquity:.1f} degrees; slices are cut along the closest "
            f"patient axes ({plan.source_code} -> {plan.target_code}) without resampling, so they are tilted "
            "relative to the model's training slices"
            + (" and quality may degrade; resample to an axis-aligned grid first." if plan.obliquity > 20 else "."),
            stacklevel=2,
        )
    return plan.apply(array, leading=leading), plan.target, plan


# ---------------------------------------------------------------------- LPS <-> RAS
def lps_to_ras(points_or_matrix: np.ndarray) -> np.ndarray:
    """Convert LPS points (N, 3)/(3,) or a 4x4 homogeneous matrix (X->LPS) to RAS (negate x, y)."""
    a = np.asarray(points_or_matrix, dtype=np.float64)
    if a.shape == (4, 4):
        return LPS_TO_RAS @ a
    if a.shape[-1] != 3:
        raise GeometryError(f"expected points (..., 3) or a 4x4 matrix, got shape {a.shape}.")
    return a * np.array([-1.0, -1.0, 1.0])


def ras_to_lps(points_or_matrix: np.ndarray) -> np.ndarray:
    """Inverse of :func:`lps_to_ras` (the same operation: the flip is its own inverse)."""
    return lps_to_ras(points_or_matrix)
