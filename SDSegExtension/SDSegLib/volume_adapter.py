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

from typing import Any, Tuple

import numpy as np
import vtk
from vtk.util import numpy_support

from SDSegLogic.errors import InputError
from SDSegLogic.geometry import LPS_TO_RAS, ImageGeometry

__all__ = [
    "matrix_to_numpy",
    "numpy_to_matrix",
    "geometry_from_ijk_to_ras",
    "ijk_to_ras_from_geometry",
    "array_from_image_data",
    "image_data_from_array",
    "array_and_geometry_from_volume_node",
    "update_volume_node_from_array",
    "slice_range_from_points",
]


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
    if volume_node is None:
        raise InputError("no input volume selected; choose a CT volume or a colour photo.")
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    image = volume_node.GetImageData()
    array = array_from_image_data(image)
    return array, geometry_from_ijk_to_ras(matrix, image.GetDimensions())


def update_volume_node_from_array(volume_node: Any, array: np.ndarray, geometry: ImageGeometry) -> None:
    """Write a scalar array and its geometry into an (output) volume node."""
    volume_node.SetAndObserveImageData(image_data_from_array(array))
    volume_node.SetIJKToRASMatrix(numpy_to_matrix(ijk_to_ras_from_geometry(geometry)))


def slice_range_from_points(points_ras: np.ndarray, ijk_to_ras: np.ndarray, num_slices: int) -> Tuple[int, int]:
    """The k range ``[start, stop)`` of slices that a set of RAS points (e.g. ROI corners) spans.

    Args:
        points_ras: (N, 3) points in the volume's local RAS frame.
        ijk_to_ras: (4, 4) IJK->RAS of the volume.
        num_slices: K.

    Raises:
        InputError: the points lie entirely outside the volume's slices.
    """
    pts = np.asarray(points_ras, dtype=np.float64).reshape(-1, 3)
    ras_to_ijk = np.linalg.inv(np.asarray(ijk_to_ras, dtype=np.float64))
    k = (pts @ ras_to_ijk[:3, :3].T + ras_to_ijk[:3, 3])[:, 2]
    start, stop = int(np.floor(k.min() + 0.5)), int(np.floor(k.max() + 0.5)) + 1
    start, stop = max(0, start), min(int(num_slices), stop)
    if start >= stop:
        raise InputError(f"the region of interest (slices {k.min():.1f}..{k.max():.1f}) lies outside the volume's "
                         f"{num_slices} slices; move the ROI onto the image.")
    return start, stop
