"""Notice that the input volume changed between Segment and the writing of its result (VTK, no Slicer).

Segment copies the input's voxels and grid (``SegmentationJob.image``/``.geometry``) and the
engine segments that copy in the background while Slicer stays usable, so another module can
change the volume meanwhile: Segment Editor masking, Volumes' threshold, a filter writing in place,
another image loaded into the same node, a crop or resample. The result describes the volume as it
was when Segment was clicked; before it is written (the panel also checks the grid at every poll
of a running job):

* the voxel grid changed (dimensions, or the IJK->RAS matrix: origin, spacing, axis directions,
  beyond :data:`~SDSegLib.volume_adapter.GRID_TOLERANCE_MM`; or the voxels are gone): the labels would
  not line up with the volume, so nothing is written (:func:`check_input_unchanged` raises
  InputError naming the volume, the change and the remedy: run Segment again);
* only voxel values changed: the result is written with a warning (:func:`check_input_unchanged`
  returns its text) saying it was computed from the volume as it was when Segment was clicked.

Voxels are compared one k slice at a time against views of the node's current scalars (no copy of
the volume); NaN equals NaN, and an RGBA picture's alpha channel (dropped from the copy) is ignored.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np
import vtk
from vtk.util import numpy_support

from SDSegLogic.errors import InputError
from SDSegLogic.geometry import ImageGeometry

from .volume_adapter import GRID_TOLERANCE_MM, matrix_to_numpy

__all__ = ["grid_change", "changed_voxel_count", "check_input_unchanged", "INPUT_CHANGED_WARNING"]

INPUT_CHANGED_WARNING = (
    "The input volume '{name}' was modified while it was being segmented ({count} of {total} voxels differ); this result "
    "was computed from the volume as it was when Segment was clicked. Run Segment again to segment the volume as it is now.")
"""The warning written with a result whose input volume's voxel values (not its grid) changed during the run."""


def _triple(values: Any) -> str:
    """``"0.9 x 0.9 x 3"``: three numbers as a person reads them (4 decimals at most)."""
    return " x ".join(f"{round(float(v), 4):g}" for v in values)


def _grid_differences(before: np.ndarray, before_dims: Tuple[int, ...], after: np.ndarray, after_dims: Tuple[int, ...]) -> List[str]:
    """What differs between two grids (IJK->RAS, dimensions I, J, K), each as ``"<what> <old> -> <new>"``; [] when the same.

    Same grid: same dimensions and IJK->RAS within :data:`~SDSegLib.volume_adapter.GRID_TOLERANCE_MM`
    (the rule the segmentation writer applies to a chosen output node).
    """
    if before_dims == after_dims and np.allclose(before, after, rtol=0.0, atol=GRID_TOLERANCE_MM):
        return []
    changes = []
    if before_dims != after_dims:
        changes.append(f"dimensions {_triple(before_dims)} -> {_triple(after_dims)} voxels")
    spacing = [np.linalg.norm(m[:3, :3], axis=0) for m in (before, after)]
    if not np.allclose(*spacing, rtol=0.0, atol=GRID_TOLERANCE_MM):
        changes.append(f"spacing {_triple(spacing[0])} -> {_triple(spacing[1])} mm")
    if not np.allclose(before[:3, 3], after[:3, 3], rtol=0.0, atol=GRID_TOLERANCE_MM):
        changes.append(f"origin {_triple(before[:3, 3])} -> {_triple(after[:3, 3])} mm (RAS)")
    directions = [m[:3, :3] / np.where(s > 0, s, 1.0) for m, s in zip((before, after), spacing)]
    if not changes or not np.allclose(*directions, rtol=0.0, atol=1e-6):
        changes.append("axis directions (rotated or flipped)")
    return changes


def grid_change(volume_node: Any, geometry: Optional[ImageGeometry]) -> str:
    """Why ``volume_node`` no longer has the voxel grid ``geometry`` a run started with; ``""`` when it still has.

    Cheap (the node's IJK->RAS matrix and dimensions, no voxels): the panel calls it at every poll
    of a running job.

    Args:
        volume_node: the input volume node (scalar or vector).
        geometry: its LPS grid when Segment was clicked (``SegmentationJob.geometry``); None for a
            run whose input's grid is not fixed (all time points of a sequence: the browsed volume
            follows the selected time point, and each time point is checked when it is written).

    Returns:
        One sentence (lower case, no full stop) naming the volume, what changed (old -> new, origin
        in RAS as Slicer shows it) and the remedy; ``""`` when the grid is the same within
        :data:`~SDSegLib.volume_adapter.GRID_TOLERANCE_MM`.
    """
    if geometry is None:
        return ""
    image = volume_node.GetImageData()
    if image is None:
        what = "its voxels are gone: the node holds no image data"
    else:
        matrix = vtk.vtkMatrix4x4()
        volume_node.GetIJKToRASMatrix(matrix)
        changes = _grid_differences(geometry.ijk_to_ras(), tuple(geometry.shape), matrix_to_numpy(matrix),
                                    tuple(int(n) for n in image.GetDimensions()))
        if not changes:
            return ""
        what = "; ".join(changes)
    return (f"the input volume '{volume_node.GetName()}' changed while it was being segmented ({what}) and the result "
            "would no longer line up with it; run Segment again on the volume as it is now")


def _current_voxels(volume_node: Any, shape: tuple) -> Optional[np.ndarray]:
    """A view (no copy) of the node's voxels as (K, J, I[, 3]), or None when they cannot take ``shape``."""
    image = volume_node.GetImageData()
    scalars = image.GetPointData().GetScalars() if image is not None and image.GetPointData() is not None else None
    if scalars is None:
        return None
    i, j, k = image.GetDimensions()
    comps = scalars.GetNumberOfComponents()
    flat = numpy_support.vtk_to_numpy(scalars)
    if flat.size != i * j * k * comps:
        return None
    view = flat.reshape(k, j, i) if comps == 1 else flat.reshape(k, j, i, comps)[..., :3]  # alpha is not segmented
    return view if view.shape == tuple(shape) else None


def changed_voxel_count(volume_node: Any, image: np.ndarray) -> int:
    """How many voxels of ``volume_node`` differ from ``image`` (its copy when Segment was clicked).

    The grid must be unchanged (:func:`grid_change` first). A voxel of an RGB picture counts once
    however many of its channels changed; NaN equals NaN. A node whose voxels cannot be compared
    (other number of components) counts every voxel as changed.
    """
    current = _current_voxels(volume_node, image.shape)
    if current is None:
        return int(np.prod(image.shape[:3]))
    nan_aware = np.issubdtype(image.dtype, np.floating) or np.issubdtype(current.dtype, np.floating)
    count = 0
    for before, now in zip(image, current):  # one k slice at a time: no volume-sized temporaries
        differ = before != now
        if nan_aware:
            differ &= ~(np.isnan(before) & np.isnan(now))
        count += int(np.count_nonzero(differ if differ.ndim == 2 else differ.any(axis=-1)))
    return count


def check_input_unchanged(volume_node: Any, image: np.ndarray, geometry: ImageGeometry) -> Optional[str]:
    """Refuse a result whose input's grid changed during the run; a warning when only its voxels changed.

    Args:
        volume_node: the input volume node, about to receive the result.
        image: the voxels segmented, copied when Segment was clicked (``SegmentationJob.image``).
        geometry: their LPS grid (``SegmentationJob.geometry``).

    Returns:
        The warning to show and store with the result when voxel values changed, else None.

    Raises:
        InputError: the voxel grid changed (or the voxels are gone); the message names the volume,
            what changed and says to run Segment again. Nothing must be written then.
    """
    change = grid_change(volume_node, geometry)
    if change:
        raise InputError(f"nothing was written: {change}.")
    count = changed_voxel_count(volume_node, image)
    if not count:
        return None
    return INPUT_CHANGED_WARNING.format(name=volume_node.GetName(), count=count, total=int(np.prod(image.shape[:3])))
