"""ImageGeometry, orientation codes, axis-only reorientation and LPS/RAS helpers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from io_test_helpers import geometry_for, rotation, signed_permutations

from SDSegLogic.errors import GeometryError
from SDSegLogic.geometry import (ImageGeometry, lps_to_ras, obliquity_degrees, orientation_code, plan_reorientation,
                                 ras_to_lps, reorient)


def _voxel_world_table(array: np.ndarray, geometry: ImageGeometry) -> dict:
    k, j, i = np.indices(array.shape[:3]).reshape(3, -1)
    world = geometry.index_to_world(np.stack([i, j, k], axis=1).astype(float))
    return {tuple(np.round(p, 6)): v for p, v in zip(world, array.reshape(-1))}


def test_geometry_is_validated():
    with pytest.raises(GeometryError, match="spacing"):
        ImageGeometry((1.0, 0.0, 1.0), (0, 0, 0), np.eye(3), (2, 2, 2))
    with pytest.raises(GeometryError, match="not orthonormal"):
        ImageGeometry((1.0, 1.0, 1.0), (0, 0, 0), [[1, 0.3, 0], [0, 1, 0], [0, 0, 1]], (2, 2, 2))
    with pytest.raises(GeometryError, match="shape"):
        ImageGeometry((1.0, 1.0, 1.0), (0, 0, 0), np.eye(3), (2, 0, 2))
    with pytest.raises(GeometryError, match="finite"):
        ImageGeometry((1.0, np.nan, 1.0), (0, 0, 0), np.eye(3), (2, 2, 2))


def test_index_world_round_trip_and_matrices():
    g = geometry_for(rotation(30, 10))
    ijk = np.array([[0, 0, 0], [11, 9, 5], [3.5, 2.25, 1.0]])
    lps = g.index_to_world(ijk)
    np.testing.assert_allclose(lps[0], g.origin)
    np.testing.assert_allclose(g.world_to_index(lps), ijk, atol=1e-9)
    # the k step is the direction's third column times the k spacing
    np.testing.assert_allclose(g.index_to_world([0, 0, 1]) - g.origin, g.direction_matrix[:, 2] * 7.0)
    np.testing.assert_allclose(g.ijk_to_ras()[:3, 3], [-12.5, 40.25, 101.0])
    assert g.array_shape == (6, 10, 12) and g.shape == (12, 10, 6)


@pytest.mark.parametrize("direction, code", [
    (np.eye(3), "LPS"),
    (np.diag([-1.0, -1.0, 1.0]), "RAS"),
    (np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], float), "PIL"),
    (rotation(30, 0), "LPS"),
    (rotation(0, 60), "LSA"),
])
def test_orientation_code(direction, code):
    assert orientation_code(direction) == code


def test_obliquity():
    assert obliquity_degrees(np.eye(3)) == 0.0
    assert abs(obliquity_degrees(rotation(30, 0)) - 30.0) < 1e-9
    assert abs(obliquity_degrees(rotation(45, 0)) - 45.0) < 1e-9  # ties resolved, still a valid permutation


@pytest.mark.parametrize("index", range(48))
def test_reorient_every_signed_permutation_keeps_world_positions(index):
    direction = signed_permutations()[index]
    g = geometry_for(direction)
    array = np.random.default_rng(index).random(g.array_shape).astype(np.float32)
    out, target, plan = reorient(array, g, "LPS")
    assert target.orientation_code() == "LPS"
    np.testing.assert_allclose(target.direction_matrix, np.eye(3), atol=0)
    assert _voxel_world_table(out, target) == _voxel_world_table(array, g)
    back = plan.invert(out)
    assert back.shape == array.shape and np.array_equal(back, array)
    assert plan.invert_geometry() is g


def test_reorient_to_ras_and_channels():
    g = geometry_for(signed_permutations()[13])
    rgb = np.random.default_rng(1).random(g.array_shape + (3,))
    out, target, plan = reorient(rgb, g, "RAS")
    assert target.orientation_code() == "RAS" and out.shape[-1] == 3
    assert np.array_equal(plan.invert(out), rgb)
    chw = np.moveaxis(rgb, -1, 0)  # leading channel axis (C, K, J, I)
    assert np.array_equal(plan.invert(plan.apply(chw, leading=1), leading=1), chw)
    assert np.array_equal(np.moveaxis(plan.apply(chw, leading=1), 0, -1), out)


def test_oblique_direction_is_kept_exactly():
    direction = rotation(30, 10)
    g = geometry_for(direction)
    array = np.arange(np.prod(g.array_shape), dtype=np.float32).reshape(g.array_shape)
    with pytest.warns(UserWarning, match="oblique by 31"):
        out, target, plan = reorient(array, g, "RAS")
    # columns are permuted/negated copies of the input columns, bit for bit
    for t in range(3):
        sign = -1.0 if plan.flips[t] else 1.0
        assert np.array_equal(target.direction_matrix[:, t], sign * g.direction_matrix[:, plan.axes[t]])
    assert _voxel_world_table(out, target) == _voxel_world_table(array, g)
    assert plan.invert_geometry().direction == g.direction


def test_axis_aligned_reorientation_does_not_warn():
    g = geometry_for(signed_permutations()[7])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reorient(np.zeros(g.array_shape), g, "LPS")


def test_plan_describe_and_identity():
    g = geometry_for(np.eye(3))
    assert plan_reorientation(g, "LPS").is_identity
    text = plan_reorientation(geometry_for(np.diag([-1.0, 1.0, -1.0])), "LPS").describe()
    assert "i<--i" in text and "k<--k" in text


def test_bad_orientation_code():
    with pytest.raises(GeometryError, match="three different axes"):
        plan_reorientation(geometry_for(np.eye(3)), "LLS")


def test_wrong_array_shape_for_geometry():
    g = geometry_for(np.eye(3))
    with pytest.raises(GeometryError, match="does not match"):
        reorient(np.zeros((6, 12, 10)), g, "LPS")


def test_lps_ras_helpers():
    points = np.array([[1.0, 2.0, 3.0], [-4.0, 5.0, -6.0]])
    np.testing.assert_array_equal(lps_to_ras(points), [[-1, -2, 3], [4, -5, -6]])
    np.testing.assert_array_equal(ras_to_lps(lps_to_ras(points)), points)
    g = geometry_for(rotation(20, 5))
    np.testing.assert_allclose(lps_to_ras(g.ijk_to_lps()), g.ijk_to_ras())
    with pytest.raises(GeometryError):
        lps_to_ras(np.zeros((2, 2)))


def test_require_same_geometry():
    g = geometry_for(np.eye(3))
    g.require_same(ImageGeometry(g.spacing, g.origin, g.direction, g.shape))
    shifted = ImageGeometry(g.spacing, np.add(g.origin, (0.5, 0, 0)), g.direction, g.shape)
    with pytest.raises(GeometryError, match="origin"):
        g.require_same(shifted)
    with pytest.raises(GeometryError, match="spacing"):
        g.require_same(ImageGeometry((0.5, 0.9, 7.1), g.origin, g.direction, g.shape))
