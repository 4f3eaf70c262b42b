"""A grid halfway (45 degrees) between two slicing choices keeps its stored slices, whatever the rounding.

An axial series tilted 45 degrees about the L-R axis is as close to axial slices cut along its
stored k axis as to axial slices cut across its rows. Which one the plan took depended on the
last digits of the header: ImageOrientationPatient "1\\0\\0\\0\\0.70710678\\0.70710678" kept the
stored slices (0.7 x 0.7 mm in-plane), "...\\0.70710678\\0.70710679" cut the model's slices
ACROSS the 60 stored 5 mm slices (0.7 x 5 mm in-plane, stretched 7x). A tie within a header's
rounding now keeps the stored slicing axis; a real preference (0.01 degree) is still followed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from io_test_helpers import ThresholdPredictor, make_card, world_centroid

from SDSegLogic.geometry import ImageGeometry, obliquity_degrees, plan_reorientation
from SDSegLogic.segment import segment_array
from SDSegLogic.segment_plan import plan_segmentation


def _from_iop(row, col, spacing=(0.7, 0.7, 5.0), shape=(40, 36, 12)) -> ImageGeometry:
    """A DICOM-style grid: row/column cosines as written in a header, the normal as their cross product."""
    r = np.asarray(row, float) / np.linalg.norm(row)
    c = np.asarray(col, float) / np.linalg.norm(col)
    return ImageGeometry(spacing, (10.0, -20.0, 30.0), np.stack([r, c, np.cross(r, c)], axis=1), shape)


def _tilted(degrees: float, axis: int) -> np.ndarray:
    """Rotation by ``degrees`` about LPS axis 0 (L-R) or 1 (A-P), computed as ITK/DICOM writers do."""
    a = np.radians(degrees)
    m = np.eye(3)
    p, q = [n for n in range(3) if n != axis]
    m[p, p], m[p, q], m[q, p], m[q, q] = np.cos(a), -np.sin(a), np.sin(a), np.cos(a)
    return m


@pytest.mark.parametrize("col", [(0, 0.70710678, 0.70710678), (0, 0.70710678, 0.70710679), (0, 0.70710679, 0.70710678),
                                 (0, 0.707107, 0.707106), (0, -0.70710678, 0.70710679)])
def test_a_45_degree_header_keeps_the_stored_slices_whatever_its_last_digits(col):
    g = _from_iop((1, 0, 0), col)
    assert abs(obliquity_degrees(g.direction_matrix) - 45.0) < 1e-3
    plan = plan_segmentation(g.array_shape, g, make_card(), model_size=32)
    assert plan.reorientation.slice_source_axis == 2
    assert sorted(plan.reorientation.target.spacing[:2]) == [0.7, 0.7]  # in-plane: the stored pixels, not 5 mm
    assert not any("stored as" in note for note in plan.warnings)


@pytest.mark.parametrize("degrees", [45 + 90 * n for n in range(8)] + [-45, -135])
@pytest.mark.parametrize("axis", [0, 1])
def test_every_45_degree_tilt_keeps_the_stored_slices(degrees, axis):
    g = ImageGeometry((0.7, 0.7, 5.0), (0.0, 0.0, 0.0), _tilted(degrees, axis), (20, 18, 6))
    assert plan_reorientation(g, "LPS").slice_source_axis == 2
    assert plan_reorientation(g, "RAS").slice_source_axis == 2


@pytest.mark.parametrize("degrees, expected", [(44.99, 2), (45.01, 1)])
def test_a_real_preference_is_still_followed(degrees, expected):
    g = ImageGeometry((0.7, 0.7, 5.0), (0.0, 0.0, 0.0), _tilted(degrees, 0), (20, 18, 6))
    assert plan_reorientation(g, "LPS").slice_source_axis == expected


def test_the_tied_plan_is_exact_and_lands_on_the_same_voxels():
    g = _from_iop((1, 0, 0), (0, 0.70710678, 0.70710679), shape=(24, 20, 6))
    volume = np.full(g.array_shape, -1000.0, dtype=np.float32)
    volume[1:4, 5:9, 6:12] = 2000.0
    volume[4:6, 12:16, 2:5] = 2000.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = segment_array(volume, g, ThresholdPredictor(make_card(), 32))
    assert result.plan.reorientation.slice_source_axis == 2
    assert np.array_equal(result.labels, (volume > 0).astype(np.uint8))
    np.testing.assert_allclose(world_centroid(result.labels, g), world_centroid(volume > 0, g), atol=1e-9)
    plan = result.plan.reorientation
    assert plan.target_code == "LPS" and plan.source_code == "LPS" and plan.is_identity  # k kept: nothing moves


def test_a_single_slice_at_45_degrees_is_still_cut_along_its_thin_axis():
    g = _from_iop((1, 0, 0), (0, 0.70710678, 0.70710679), shape=(24, 1, 6))  # one voxel thick along j
    plan = plan_segmentation(g.array_shape, g, make_card(), model_size=32)
    assert plan.reorientation.slice_source_axis == 1 and plan.num_slices == 1
