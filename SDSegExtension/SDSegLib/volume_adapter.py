"""Volume node <-> (NumPy array, ImageGeometry): the one place where RAS meets LPS.

Slicer stores a volume as a ``vtkImageData`` (voxels only: its own origin/spacing are ignored)
plus the node's IJK->RAS matrix. The engine speaks LPS (:mod:`SDSegLogic.geometry`). The
conversion is a flip of the first two world axes::

    IJK->LPS = diag(-1, -1, 1, 1) @ IJK->RAS

Arrays are (K, J, I) for scalar volumes and (K, J, I, C) for vector (RGB) volumes, exactly as
``slicer.util.arrayFromVolume`` returns them. The functions here take plain VTK objects, so they
are tested with real ``vtkImageData``/``vtkMatrix4x4`` outside Slicer; the ``*_node`` helpers
only read/write a node's image data and matrix. The input volume is never modified: every array
returned is a copy.

The node's *local* IJK->RAS is used on purpose: the segmentation is placed under the input's
parent transform, so both live in the same (possibly transformed) frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np
import vtk
from vtk.util import numpy_support

from SDSegLogic.errors import InputError
from SDSegLogic.geometry import LPS_TO_RAS, ImageGeometry, closest_axes, plan_reorientation

__all__ = [
    "matrix_to_numpy",
    "numpy_to_matrix",
    "geometry_from_ijk_to_ras",
    "ijk_to_ras_from_geometry",
    "array_from_image_data",
    "image_data_from_array",
    "array_and_geometry_from_volume_node",
    "geometry_from_volume_node",
    "update_volume_node_from_array",
    "region_index",
    "GRID_TOLERANCE_MM",
    "slicing_axis",
    "slice_plane_name",
    "slice_range_from_points",
    "SliceSelection",
    "select_slices",
    "AXIS_LETTERS",
]

GRID_TOLERANCE_MM = 1e-3
"""Largest IJK->RAS difference (mm) between two grids still treated as the same grid."""
AXIS_LETTERS = "ijk"
"""Voxel axis letters as Slicer shows them (0=i, 1=j, 2=k)."""
_PLANES = ("sagittal", "coronal", "axial")
_TOUCH = 1e-6
"""Slice fraction within which an ROI face counts as lying on the boundary between two slices (not reaching in)."""


def matrix_to_numpy(matrix: "vtk.vtkMatrix4x4") -> np.ndarray:
    """vtkMatrix4x4 -> float64 (4, 4)."""
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)], dtype=np.float64)


def numpy_to_matrix(array: np.ndarray) -> "vtk.vtkMatrix4x4":
    """float (4, 4) -> new vtkMatrix4x4."""
    m = np.asarray(array, dtype=np.float64)
    if m.shape != (4, 4):
        raise InputError(f"expected a 4x4 matrix, got shape {m.shape}.")
    out = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            out.SetElement(r, c, float(m[r, c]))
    return out


def geometry_from_ijk_to_ras(ijk_to_ras: Any, dimensions: Tuple[int, int, int]) -> ImageGeometry:
    """IJK->RAS (vtkMatrix4x4 or (4, 4) array) and vtkImageData dimensions (I, J, K) -> LPS geometry.

    Raises:
        GeometryError: zero-length or sheared axes (from :class:`ImageGeometry`).
    """
    m = matrix_to_numpy(ijk_to_ras) if isinstance(ijk_to_ras, vtk.vtkMatrix4x4) else np.asarray(ijk_to_ras, dtype=np.float64)
    return ImageGeometry.from_ijk_to_lps(LPS_TO_RAS @ m, tuple(int(n) for n in dimensions))


def ijk_to_ras_from_geometry(geometry: ImageGeometry) -> np.ndarray:
    """LPS geometry -> float64 (4, 4) IJK->RAS, as ``vtkMRMLVolumeNode.SetIJKToRASMatrix`` wants it."""
    return geometry.ijk_to_ras()


def array_from_image_data(image_data: "vtk.vtkImageData") -> np.ndarray:
    """Copy the voxels of a vtkImageData into a (K, J, I) or (K, J, I, C) array.

    RGBA (4 components) keeps only RGB, as fundus/endoscopy photos loaded from PNG often carry an
    opaque alpha channel; 2 components, or more than 4, are rejected.
    """
    if image_data is None or image_data.GetPointData() is None or image_data.GetPointData().GetScalars() is None:
        raise InputError("the volume has no voxels (empty image data); load an image first.")
    i, j, k = image_data.GetDimensions()
    scalars = image_data.GetPointData().GetScalars()
    comps = scalars.GetNumberOfComponents()
    flat = numpy_support.vtk_to_numpy(scalars)
    if comps == 1:
        return np.array(flat.reshape(k, j, i), copy=True)
    if comps in (3, 4):
        return np.array(flat.reshape(k, j, i, comps)[..., :3], copy=True)
    raise InputError(f"the volume has {comps} components per voxel; SDSeg takes grayscale (1) or RGB/RGBA (3/4) images.")


def image_data_from_array(array: np.ndarray) -> "vtk.vtkImageData":
    """(K, J, I) or (K, J, I, C) array -> new vtkImageData (origin 0, spacing 1: geometry lives in the node)."""
    a = np.ascontiguousarray(array)
    if a.ndim not in (3, 4):
        raise InputError(f"array shape {a.shape} must be (K, J, I) or (K, J, I, C).")
    k, j, i = a.shape[:3]
    comps = 1 if a.ndim == 3 else a.shape[3]
    image = vtk.vtkImageData()
    image.SetDimensions(i, j, k)
    vtk_array = numpy_support.numpy_to_vtk(a.reshape(-1, comps) if comps > 1 else a.reshape(-1), deep=True)
    vtk_array.SetNumberOfComponents(comps)
    image.GetPointData().SetScalars(vtk_array)
    return image


def array_and_geometry_from_volume_node(volume_node: Any) -> Tuple[np.ndarray, ImageGeometry]:
    """A vtkMRMLScalarVolumeNode / vtkMRMLVectorVolumeNode -> (array copy, LPS geometry)."""
    _check_has_voxels(volume_node)
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    image = volume_node.GetImageData()
    array = array_from_image_data(image)
    return array, geometry_from_ijk_to_ras(matrix, image.GetDimensions())


def _check_has_voxels(volume_node: Any) -> None:
    """Refuse no volume, or a volume node that holds no image (e.g. one made by a script, not filled yet)."""
    if volume_node is None:
        raise InputError("no input volume selected; choose a CT volume or a colour photo.")
    if volume_node.GetImageData() is None:
        raise InputError(f"the input volume '{volume_node.GetName()}' holds no image (no voxels); load an image into it, "
                         "or choose another volume.")


def geometry_from_volume_node(volume_node: Any) -> ImageGeometry:
    """The LPS grid of a volume node, without copying its voxels (for checks and labels)."""
    _check_has_voxels(volume_node)
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return geometry_from_ijk_to_ras(matrix, volume_node.GetImageData().GetDimensions())


def region_index(region: Optional[Tuple[int, int, int]]) -> Optional[Tuple[slice, ...]]:
    """``(axis, start, stop)`` over voxel axes (0=i, 1=j, 2=k) -> an index into a (K, J, I) array; None stays None."""
    if region is None:
        return None
    axis, start, stop = (int(v) for v in region)
    index = [slice(None)] * 3
    index[2 - axis] = slice(start, stop)
    return tuple(index)


def _kept_voxels(volume_node: Any, array: np.ndarray, geometry: ImageGeometry) -> Optional[np.ndarray]:
    """A copy of the node's voxels when they can take ``array``'s values: same dtype and shape, same grid."""
    image = volume_node.GetImageData()
    if image is None or image.GetPointData() is None or image.GetPointData().GetScalars() is None:
        return None
    if tuple(image.GetDimensions()) != tuple(geometry.shape) or image.GetPointData().GetScalars().GetNumberOfComponents() != 1:
        return None
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    if not np.allclose(matrix_to_numpy(matrix), ijk_to_ras_from_geometry(geometry), rtol=0.0, atol=GRID_TOLERANCE_MM):
        return None
    kept = array_from_image_data(image)
    return kept if kept.dtype == array.dtype and kept.shape == array.shape else None


def update_volume_node_from_array(volume_node: Any, array: np.ndarray, geometry: ImageGeometry,
                                  region: Optional[Tuple[int, int, int]] = None) -> bool:
    """Write a scalar array and its geometry into an (output) volume node.

    Args:
        volume_node: the scalar volume node to fill.
        array: (K, J, I) voxels on ``geometry``.
        geometry: the LPS grid of ``array``.
        region: ``(axis, start, stop)`` when only slices ``start..stop-1`` across voxel ``axis``
            (0=i, 1=j, 2=k) were computed (a slice-range or ROI run). Only those slices are then
            written: the node's other voxels are kept when it already holds a volume of the same
            grid and voxel type (e.g. an earlier run's map), and are 0 otherwise.

    Returns:
        True when voxels of the node outside ``region`` were kept, False when it was replaced.
    """
    index = region_index(region)
    kept = None if index is None else _kept_voxels(volume_node, array, geometry)
    if index is not None:
        merged = kept if kept is not None else np.zeros_like(array)
        merged[index] = array[index]
        array = merged
    volume_node.SetAndObserveImageData(image_data_from_array(array))
    volume_node.SetIJKToRASMatrix(numpy_to_matrix(ijk_to_ras_from_geometry(geometry)))
    return kept is not None


def slicing_axis(geometry: ImageGeometry, orientation: str) -> int:
    """The voxel axis (0=i, 1=j, 2=k) along which the engine cuts the model's slices.

    The engine's rule (:func:`SDSegLogic.segment_plan.plan_segmentation`): the input axis that
    ``plan_reorientation(geometry, orientation)`` turns into the model's slicing axis, except that
    an image one voxel thick along another axis (a single slice) is cut along that thin axis.
    For an axial model this is k only when the volume is stored as axial slices.

    Args:
        geometry: the input's LPS grid.
        orientation: the model card's orientation code (e.g. ``"LPS"``).
    """
    axis = plan_reorientation(geometry, orientation).slice_source_axis
    thin = [a for a in range(3) if geometry.shape[a] == 1]
    return thin[-1] if thin and geometry.shape[axis] > 1 else axis


def slice_plane_name(geometry: ImageGeometry, axis: int) -> str:
    """``"axial"``, ``"coronal"`` or ``"sagittal"``: the plane of the slices cut across voxel ``axis``."""
    return _PLANES[closest_axes(geometry.direction_matrix)[0][axis]]


def slice_range_from_points(points_ras: np.ndarray, ijk_to_ras: np.ndarray, num_slices: int, axis: int = 2) -> Tuple[int, int]:
    """The range ``[start, stop)`` of slices along voxel ``axis`` that a set of RAS points (e.g. ROI corners) spans.

    Slice ``n`` spans indices ``n - 0.5 .. n + 0.5``; a slice the points reach into (by more than
    :data:`_TOUCH` of a slice) is in the range, one they only touch (an ROI fitted to voxel edges)
    is not. Points thinner than a slice, on a boundary, give the slice above it.

    Args:
        points_ras: (N, 3) points in the volume's local RAS frame.
        ijk_to_ras: (4, 4) IJK->RAS of the volume.
        num_slices: number of slices along ``axis`` (the volume's size along it).
        axis: voxel axis the slices are cut across (0=i, 1=j, 2=k; see :func:`slicing_axis`).

    Raises:
        InputError: the points lie entirely outside the volume's slices.
    """
    pts = np.asarray(points_ras, dtype=np.float64).reshape(-1, 3)
    ras_to_ijk = np.linalg.inv(np.asarray(ijk_to_ras, dtype=np.float64))
    index = (pts @ ras_to_ijk[:3, :3].T + ras_to_ijk[:3, 3])[:, int(axis)]
    # slice n spans n - 0.5 .. n + 0.5: a slice the ROI only touches (a face on a boundary, up to rounding) is left out
    start = int(np.floor(index.min() + 0.5 + _TOUCH))
    stop = max(start + 1, int(np.floor(index.max() + 0.5 - _TOUCH)) + 1)  # a flat ROI on a boundary: the slice above
    start, stop = max(0, start), min(int(num_slices), stop)
    if start >= stop:
        raise InputError(f"the region of interest ({AXIS_LETTERS[axis]} {index.min():.1f}..{index.max():.1f}) lies outside "
                         f"the volume's {num_slices} slices along its {AXIS_LETTERS[axis]} axis; move the ROI onto the image.")
    return start, stop


@dataclass(frozen=True)
class SliceSelection:
    """Which slices a run segments, counted along the axis the model slices the volume across.

    Attributes:
        axis: voxel axis (0=i, 1=j, 2=k) the engine cuts slices across (:func:`slicing_axis`).
        plane: ``"axial"``, ``"coronal"`` or ``"sagittal"``: the plane of those slices.
        count: number of slices along ``axis``.
        start, stop: the half-open range to segment, in voxel indices along ``axis``.
    """

    axis: int
    plane: str
    count: int
    start: int
    stop: int

    @property
    def slices(self) -> Optional[Tuple[int, int]]:
        """``(start, stop)`` for the engine, or None for every slice."""
        return None if (self.start, self.stop) == (0, self.count) else (self.start, self.stop)

    @property
    def size(self) -> int:
        """Number of slices segmented."""
        return self.stop - self.start

    @property
    def letter(self) -> str:
        """The axis letter Slicer shows (``"i"``, ``"j"`` or ``"k"``)."""
        return AXIS_LETTERS[self.axis]


def select_slices(geometry: ImageGeometry, orientation: str, first_slice: int = 0, last_slice: int = -1,
                  roi_points_ras: Optional[np.ndarray] = None) -> SliceSelection:
    """The slices to segment: from ROI corners when given, else from the first/last slice numbers.

    Both are counted along the axis the engine slices across (:func:`slicing_axis`), which is k
    only for a volume stored in the model's slice plane.

    Args:
        geometry: the input's LPS grid.
        orientation: the model card's orientation code.
        first_slice, last_slice: inclusive slice numbers along that axis; ``last_slice`` -1 is the last.
        roi_points_ras: (N, 3) ROI corners in the volume's local RAS frame; they override the numbers.

    Raises:
        InputError: an empty range, or an ROI outside the volume.
    """
    axis = slicing_axis(geometry, orientation)
    count = int(geometry.shape[axis])
    plane = slice_plane_name(geometry, axis)
    if roi_points_ras is not None:
        start, stop = slice_range_from_points(roi_points_ras, geometry.ijk_to_ras(), count, axis)
        return SliceSelection(axis, plane, count, start, stop)
    stop = count if last_slice < 0 else min(count, int(last_slice) + 1)
    if not 0 <= int(first_slice) < stop:
        last = "the last" if int(last_slice) < 0 else int(last_slice)  # the panel's spin box shows -1 as "last"
        raise InputError(f"slice range {first_slice} to {last} is empty: the model cuts {plane} slices across the "
                         f"volume's {AXIS_LETTERS[axis]} axis, which has {count} slices (0..{count - 1}). Choose "
                         f"slices from 0 to {count - 1}, the first one not after the last one.")
    return SliceSelection(axis, plane, count, int(first_slice), stop)
