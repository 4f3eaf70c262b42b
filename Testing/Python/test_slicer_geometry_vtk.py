"""Volume node geometry <-> engine geometry with real VTK objects (SDSegLib.volume_adapter).

Slicer keeps voxels in a ``vtkImageData`` and the grid in the node's IJK->RAS ``vtkMatrix4x4``;
the engine uses LPS ``ImageGeometry``. These tests build both with real VTK classes (the same
ones Slicer uses) and check, for flipped, permuted and oblique grids, that

* the round trip matrix -> ImageGeometry -> matrix is exact (1e-12),
* a voxel lands at the same physical point in Slicer's RAS and, independently, in SimpleITK's
  LPS (guarantee G4: two implementations agree),
* (K, J, I) array order is kept, with an asymmetric marker (G3),
* RGB(A) photos become (K, J, I, 3) and the input image data is never modified,
* an ROI or a slice range is counted along the axis the engine slices across (j for a volume
  stored as sagittal slices and an axial model), checked against the engine's own plan.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "SDSegExtension"))

vtk = pytest.importorskip("vtk")

from SDSegLib.volume_adapter import (  # noqa: E402
    array_from_image_data,
    geometry_from_ijk_to_ras,
    ijk_to_ras_from_geometry,
    image_data_from_array,
    matrix_to_numpy,
    numpy_to_matrix,
    select_slices,
    slice_range_from_points,
    slicing_axis,
)
from SDSegLogic.errors import GeometryError, InputError  # noqa: E402


def _rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]), "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


# IJK->RAS direction columns (what Slicer's IJKToRASDirections hold), spacing, origin (RAS)
GRIDS = {
    "slicer-default-axial": (np.diag([-1.0, -1.0, 1.0]), (0.7, 0.7, 2.5), (120.0, 95.5, -300.0)),
    "ras-identity": (np.eye(3), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
    "flipped-k": (np.diag([-1.0, -1.0, -1.0]), (0.5, 0.6, 3.0), (10.0, -20.0, 40.0)),
    "sagittal-permuted": (np.array([[0, 0, -1.0], [1, 0, 0], [0, -1.0, 0]]), (1.2, 1.1, 0.9), (-5.0, 7.5, 60.0)),
    "oblique-30deg": (_rotation("x", 30) @ _rotation("z", 12) @ np.diag([-1.0, -1.0, 1.0]), (0.8, 0.8, 1.5), (33.3, -12.1, 7.0)),
}


def _ijk_to_ras(directions, spacing, origin) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = np.asarray(directions) * np.asarray(spacing)
    m[:3, 3] = origin
    return m


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_vtk_matrix_round_trip_is_exact(name):
    directions, spacing, origin = GRIDS[name]
    expected = _ijk_to_ras(directions, spacing, origin)
    vtk_matrix = numpy_to_matrix(expected)
    image = vtk.vtkImageData()
    image.SetDimensions(7, 5, 3)  # I, J, K
    geometry = geometry_from_ijk_to_ras(vtk_matrix, image.GetDimensions())
    assert geometry.shape == (7, 5, 3) and geometry.array_shape == (3, 5, 7)
    np.testing.assert_allclose(geometry.spacing, spacing, rtol=0, atol=1e-12)
    # LPS origin = RAS origin with x, y negated
    np.testing.assert_allclose(geometry.origin, (-origin[0], -origin[1], origin[2]), atol=1e-12)
    back = numpy_to_matrix(ijk_to_ras_from_geometry(geometry))
    np.testing.assert_allclose(matrix_to_numpy(back), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_voxel_positions_agree_with_simpleitk(name):
    sitk = pytest.importorskip("SimpleITK")
    directions, spacing, origin = GRIDS[name]
    ijk_to_ras = _ijk_to_ras(directions, spacing, origin)
    geometry = geometry_from_ijk_to_ras(numpy_to_matrix(ijk_to_ras), (7, 5, 3))
    image = sitk.Image(7, 5, 3, sitk.sitkUInt8)  # an ITK image built from the engine's LPS geometry
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(np.asarray(geometry.direction).ravel().tolist())
    for ijk in [(0, 0, 0), (6, 0, 0), (0, 4, 2), (3, 2, 1), (6, 4, 2)]:
        ras = (ijk_to_ras @ np.array([*ijk, 1.0]))[:3]
        lps = np.array(image.TransformIndexToPhysicalPoint(ijk))
        np.testing.assert_allclose(lps, ras * np.array([-1, -1, 1]), atol=1e-9)


def test_array_order_is_kji_with_an_asymmetric_marker():
    image = vtk.vtkImageData()
    image.SetDimensions(4, 3, 2)  # I=4, J=3, K=2
    image.AllocateScalars(vtk.VTK_SHORT, 1)
    image.GetPointData().GetScalars().Fill(0)
    image.SetScalarComponentFromDouble(3, 1, 0, 0, 7)  # voxel (i=3, j=1, k=0)
    image.SetScalarComponentFromDouble(0, 2, 1, 0, -5)  # voxel (i=0, j=2, k=1)
    array = array_from_image_data(image)
    assert array.shape == (2, 3, 4) and array.dtype == np.int16
    assert array[0, 1, 3] == 7 and array[1, 2, 0] == -5 and np.count_nonzero(array) == 2
    array[0, 1, 3] = 99  # a copy: the volume's voxels are never modified
    assert image.GetScalarComponentAsDouble(3, 1, 0, 0) == 7
    rebuilt = image_data_from_array(array_from_image_data(image))
    assert rebuilt.GetDimensions() == (4, 3, 2)
    assert rebuilt.GetScalarComponentAsDouble(0, 2, 1, 0) == -5


@pytest.mark.parametrize("components", [3, 4])
def test_rgb_photo_becomes_kji3(components):
    rgb = np.zeros((1, 6, 9, components), np.uint8)
    rgb[0, 1, 8] = (255, 10, 20, 255)[:components]  # top-right-ish pixel, red
    image = image_data_from_array(rgb)
    assert image.GetNumberOfScalarComponents() == components
    array = array_from_image_data(image)
    assert array.shape == (1, 6, 9, 3) and tuple(array[0, 1, 8]) == (255, 10, 20)


def test_two_component_image_rejected():
    image = image_data_from_array(np.zeros((1, 2, 2, 2), np.uint8))
    with pytest.raises(InputError, match="components"):
        array_from_image_data(image)


def test_sheared_matrix_rejected():
    m = np.eye(4)
    m[0, 1] = 0.5  # j axis leans into x: not a rotation
    with pytest.raises(GeometryError, match="orthonormal"):
        geometry_from_ijk_to_ras(numpy_to_matrix(m), (3, 3, 3))


def test_roi_corners_to_slice_range():
    directions, spacing, origin = GRIDS["slicer-default-axial"]
    ijk_to_ras = _ijk_to_ras(directions, spacing, origin)
    corners = [(ijk_to_ras @ np.array([i, j, k, 1.0]))[:3] for i in (2, 5) for j in (1, 4) for k in (3.2, 7.6)]
    assert slice_range_from_points(np.array(corners), ijk_to_ras, 20) == (3, 9)
    with pytest.raises(InputError, match="outside"):
        slice_range_from_points(np.array(corners) + np.array([0, 0, 500.0]), ijk_to_ras, 20)


def _card():
    from SDSegLogic.model_card import ModelCard, SegmentClass

    return ModelCard(model_id="axis-test", version="0.0.1", task="t", modality="CT", training_size=32,
                     classes=(SegmentClass("liver", 1, (1.0, 0.0, 0.0), {}),))


def _engine_plan(geometry, slices=None):
    from SDSegLogic.segment_plan import plan_segmentation

    return plan_segmentation(geometry.array_shape, geometry, _card(), model_size=32, slices=slices, max_bytes=1 << 40)


@pytest.mark.parametrize("dims", [(7, 5, 3), (16, 12, 1), (1, 12, 16)])
@pytest.mark.parametrize("name", sorted(GRIDS))
def test_slicing_axis_is_the_engine_s(name, dims):
    geometry = geometry_from_ijk_to_ras(numpy_to_matrix(_ijk_to_ras(*GRIDS[name])), dims)
    assert slicing_axis(geometry, "LPS") == _engine_plan(geometry).reorientation.slice_source_axis


def test_sagittal_stored_volume_roi_and_slice_range_count_along_j():
    """i -> A, j -> I, k -> L: an axial model cuts this volume across j, so ROI and range are j indices."""
    ijk_to_ras = _ijk_to_ras(*GRIDS["sagittal-permuted"])
    geometry = geometry_from_ijk_to_ras(numpy_to_matrix(ijk_to_ras), (20, 30, 40))  # I, J, K
    corners = np.array([(ijk_to_ras @ np.array([i, j, k, 1.0]))[:3] for i in (0, 19) for j in (5.2, 9.6) for k in (0, 39)])
    assert slice_range_from_points(corners, ijk_to_ras, 40) == (0, 40)  # along k the ROI covers everything
    selection = select_slices(geometry, "LPS", roi_points_ras=corners)
    assert (selection.axis, selection.letter, selection.plane, selection.count) == (1, "j", "axial", 30)
    assert (selection.start, selection.stop) == (5, 11) and selection.size == 6
    plan = _engine_plan(geometry, selection.slices)  # the engine segments exactly these slices
    assert plan.reorientation.slice_source_axis == 1 and plan.input_range == (5, 11)
    manual = select_slices(geometry, "LPS", 3, 7)
    assert manual.slices == (3, 8) and _engine_plan(geometry, manual.slices).input_range == (3, 8)
    assert select_slices(geometry, "LPS").slices is None
    with pytest.raises(InputError, match="empty: the model cuts axial slices across the volume's j axis, which has 30 slices"):
        select_slices(geometry, "LPS", 32, 38)  # valid for K = 40, not for the 30 axial slices
    with pytest.raises(InputError, match="outside the volume's 30 slices along its j axis"):
        select_slices(geometry, "LPS", roi_points_ras=corners + np.array([0, 0, -500.0]))
