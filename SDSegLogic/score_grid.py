"""Put a prediction and a reference on one voxel grid for scoring, without resampling.

The reference is permuted and flipped onto the prediction's axes exactly; when one file is a crop
of the other's grid (Slicer's "crop to minimum extent") or they overlap on one lattice, both are
placed on the smallest grid holding both, background outside a file's extent. Another grid is
refused, naming both files, both grids and the remedy; files that share no voxel are refused too, and so is a
picture (PNG, JPEG, TIFF, BMP: no position in space) of another size than the other file, which is no crop. A DICOM SEG
drawn on a series of thicker slices is scored on its own slices only (:func:`on_drawn_slices`).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from .errors import GeometryError
from .geometry import ImageGeometry, plan_reorientation
from .io.label_files import LabelVolume
from .io.sniff import PICTURE_FORMATS, is_picture  # re-exported: where score's callers found them first

__all__ = ["GRID_TOLERANCE", "PICTURE_FORMATS", "align_reference", "describe_grid", "is_picture", "on_drawn_slices"]

#: grid tolerances: spacing (relative), direction (absolute), origin (mm), as the segmentation writer
GRID_TOLERANCE = {"spacing_rtol": 1e-5, "direction_atol": 1e-5, "origin_atol": 1e-3}


def _picture_size_message(prediction: LabelVolume, reference: LabelVolume) -> str:
    """Why a picture and a file of another size cannot be scored: a picture has no position, so no crop."""
    sizes = [f"{volume.path} ({' x '.join(str(n) for n in volume.geometry.shape[:2])} pixels)"
             for volume in (prediction, reference)]
    width, height = reference.geometry.shape[:2]
    return (f"the prediction {sizes[0]} and the reference {sizes[1]} differ in size, and a picture stores no position "
            "in space, so one is not a crop of the other and their pixels cannot be paired. Score a mask made at the "
            f"reference's own size ({width} x {height}; sdseg segment writes its mask at the input's size), or resize "
            f"the prediction to {width} x {height} pixels with nearest-neighbour interpolation first.")


def _grid_offset(prediction: ImageGeometry, other: ImageGeometry) -> Optional[np.ndarray]:
    """Whole-voxel offset (i, j, k) of ``other``'s first voxel on ``prediction``'s grid, when ``other`` is a
    crop or an extension of it (same spacing and direction, origin on a voxel centre); else ``None``."""
    tol = GRID_TOLERANCE
    if np.any(np.abs(np.subtract(other.spacing, prediction.spacing)) > tol["spacing_rtol"] * np.abs(prediction.spacing)):
        return None
    if np.abs(other.direction_matrix - prediction.direction_matrix).max() > tol["direction_atol"]:
        return None
    index = prediction.world_to_index(np.asarray(other.origin, dtype=np.float64))
    offset = np.rint(index)
    if np.abs((index - offset) * np.asarray(prediction.spacing)).max() > tol["origin_atol"]:
        return None
    return offset.astype(np.int64)


def _gap_mm(grid: ImageGeometry, other: ImageGeometry, offset: np.ndarray) -> float:
    """Distance in mm between the extents of two grids on one lattice (``other`` starting at voxel ``offset``)."""
    below = np.maximum(0, -(offset + np.asarray(other.shape)) + 1)
    above = np.maximum(0, offset - np.asarray(grid.shape) + 1)
    return float(np.linalg.norm((below + above) * np.asarray(grid.spacing)))


def _embed(layers: np.ndarray, shape_kji: Sequence[int], start_ijk: np.ndarray) -> np.ndarray:
    """(L, K, J, I) ``layers`` placed at voxel ``start_ijk`` of a zero (background) volume of ``shape_kji``."""
    out = np.zeros((layers.shape[0], *shape_kji), dtype=layers.dtype)
    i, j, k = (int(v) for v in start_ijk)
    out[:, k:k + layers.shape[1], j:j + layers.shape[2], i:i + layers.shape[3]] = layers
    return out


def describe_grid(grid: ImageGeometry) -> str:
    """``12 x 11 x 9 voxels of 0.8 x 1.1 x 2 mm, origin (5, -3, 40) mm, axes LPS``, as the file stores it."""
    oblique = np.abs(np.abs(grid.direction_matrix) - np.rint(np.abs(grid.direction_matrix))).max() > 1e-6
    return (f"{' x '.join(str(n) for n in grid.shape)} voxels of {' x '.join(f'{s:g}' for s in grid.spacing)} mm, "
            f"origin ({', '.join(f'{v:.6g}' for v in grid.origin)}) mm, axes {grid.orientation_code()}"
            + (" (oblique)" if oblique else ""))


def _other_grid_message(prediction: LabelVolume, reference: LabelVolume, turned: ImageGeometry) -> str:
    """Why ``reference`` (``turned``: its grid in the prediction's axis order) cannot be scored: both grids, the remedy."""
    grid, tol = prediction.geometry, GRID_TOLERANCE
    differ = [name for name, off in (
        ("voxel counts", tuple(turned.shape) != tuple(grid.shape)),
        ("spacing", np.any(np.abs(np.subtract(turned.spacing, grid.spacing)) > tol["spacing_rtol"] * np.abs(grid.spacing))),
        ("direction", np.abs(turned.direction_matrix - grid.direction_matrix).max() > tol["direction_atol"]),
        ("origin", np.abs(np.subtract(turned.origin, grid.origin)).max() > tol["origin_atol"])) if off]
    return (f"{reference.path} is not on the reference grid, that of the prediction {prediction.path} "
            f"({' and '.join(differ)} differ). Reference: {describe_grid(reference.geometry)}; prediction: "
            f"{describe_grid(grid)}. The reference must lie on the prediction's voxel grid, or be a crop of it: "
            "resample the reference onto the prediction's image with nearest-neighbour interpolation (e.g. Slicer's "
            "Resample Image (BRAINS)), or segment the image the reference was drawn on.")


def align_reference(prediction: LabelVolume, reference: LabelVolume) -> Tuple[np.ndarray, np.ndarray, ImageGeometry]:
    """Both files' layers on one grid, without resampling.

    The reference is permuted and flipped onto the prediction's axes. When one of the two is a
    crop of the other's grid (Slicer's *crop to minimum extent* when saving a segmentation), or
    they overlap on one lattice, both are placed on the smallest grid holding both, the voxels
    outside a file's extent being background; never when either is a picture (PNG, JPEG, TIFF, BMP), which stores
    no position: pictures of two sizes are refused (a mask made at another size, not resampled back).

    Returns:
        ``(prediction layers, reference layers, grid)``: (L, K, J, I) arrays on ``grid``.

    Raises:
        GeometryError: the reference is on another grid, or a picture is of another size than the other file
            (naming both files and the remedy).
    """
    plan = plan_reorientation(reference.geometry, prediction.geometry.orientation_code())
    ref_layers = plan.apply(reference.layers, leading=1)
    grid = prediction.geometry
    try:
        grid.require_same(plan.target, what=str(reference.path), **GRID_TOLERANCE)
        return prediction.layers, ref_layers, grid
    except GeometryError:
        other_size = tuple(plan.target.shape) != tuple(grid.shape)
        if other_size and (is_picture(prediction.path) or is_picture(reference.path)):  # no position: no crop
            raise GeometryError(_picture_size_message(prediction, reference)) from None
        offset = _grid_offset(grid, plan.target)
        if offset is None:
            raise GeometryError(_other_grid_message(prediction, reference, plan.target)) from None
        if np.any(offset >= np.asarray(grid.shape)) or np.any(offset + np.asarray(plan.target.shape) <= 0):
            raise GeometryError(
                f"{reference.path} and {prediction.path} share no voxel: the reference lies "
                f"{_gap_mm(grid, plan.target, offset):.0f} mm away from the prediction, so it is not a crop of it; "
                "check that both files belong to the same scan.") from None
    low = np.minimum(0, offset)
    high = np.maximum(np.asarray(grid.shape), offset + np.asarray(plan.target.shape))
    common = ImageGeometry(grid.spacing, tuple(grid.index_to_world(low.astype(np.float64))), grid.direction_matrix,
                           tuple(int(v) for v in high - low))
    shape_kji = common.array_shape
    return _embed(prediction.layers, shape_kji, -low), _embed(np.asarray(ref_layers), shape_kji, offset - low), common


def on_drawn_slices(prediction_layers: np.ndarray, reference_layers: np.ndarray, grid: ImageGeometry,
                    drawn: Tuple[np.ndarray, float, np.ndarray]) -> Tuple[np.ndarray, np.ndarray, ImageGeometry]:
    """Both files' layers on the slices a DICOM SEG was drawn on only (one in N of ``grid``), as on its own series.

    Args:
        prediction_layers, reference_layers: (L, K, J, I) layers on ``grid`` (:func:`align_reference`).
        drawn: the SEG's :attr:`~SDSegLogic.io.label_files.LabelVolume.drawn_slices`: the unit LPS normal (3,) of
            its planes, their spacing in mm (N times ``grid``'s along that normal) and an LPS point (3,) on one.

    Returns:
        ``(prediction layers, reference layers, grid)``: every N-th slice along the grid axis across the planes,
        those through the SEG's planes, on a grid of N times the spacing along that axis; the input unchanged when
        the planes do not run along a grid axis with a whole multiple of its spacing (not expected: the SEG was
        placed on ``grid``'s lattice).
    """
    normal, spacing_mm, point = drawn
    axis = int(np.argmax(np.abs(grid.direction_matrix.T @ np.asarray(normal, dtype=np.float64))))
    step = int(round(spacing_mm / grid.spacing[axis]))
    if step < 2 or abs(step * grid.spacing[axis] - spacing_mm) > 1e-6 * spacing_mm:
        return prediction_layers, reference_layers, grid
    first = int(round(float(grid.world_to_index(np.asarray(point, dtype=np.float64))[axis]))) % step
    kept = np.arange(first, grid.shape[axis], step)
    if kept.size == 0:
        return prediction_layers, reference_layers, grid
    start = np.zeros(3)
    start[axis] = first
    spacing, shape = list(grid.spacing), list(grid.shape)
    spacing[axis], shape[axis] = spacing[axis] * step, int(kept.size)
    coarse = ImageGeometry(tuple(spacing), tuple(grid.index_to_world(start)), grid.direction_matrix, tuple(shape))
    array_axis = 3 - axis  # (L, K, J, I): i is array axis 3, k array axis 1
    return (np.take(prediction_layers, kept, axis=array_axis), np.take(reference_layers, kept, axis=array_axis),
            coarse)
