"""An ROI whose faces lie on slice boundaries segments exactly the slices inside it.

An ROI fitted to a segment's bounds (or placed from voxel edges by a script) has its faces on the
boundaries between slices: half-integer slice indices, up to rounding. Both faces were rounded
half up: the slice above the last face, which the ROI only touches, was always segmented (an ROI
over slices 3..4 gave 3..5), and by rounding noise the slice below the first one too (2..4), and a
range re-run into an existing segmentation replaced those slices of its segments although they lie
outside the ROI. Now a slice the ROI only touches is left out at either end (within a millionth of
a slice), and an ROI thinner than a slice still selects the slice it lies in.
"""

from __future__ import annotations

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - puts SDSegLib on sys.path


def _grid(oblique: bool) -> np.ndarray:
    ijk_to_ras = np.eye(4)
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) if oblique else np.eye(3)
    ijk_to_ras[:3, :3] = rotation @ np.diag([0.7, 0.7, 2.5])
    ijk_to_ras[:3, 3] = [-100.3, 20.7, -1234.9]
    return ijk_to_ras


def _corners(ijk_to_ras: np.ndarray, k_low: float, k_high: float) -> np.ndarray:
    return np.array([(ijk_to_ras @ np.array([i, j, k, 1.0]))[:3] for i in (0, 3) for j in (0, 3) for k in (k_low, k_high)])


@pytest.mark.parametrize("oblique", [False, True])
@pytest.mark.parametrize("noise", [0.0, 1e-9, -1e-9])
def test_s21b_an_roi_on_slice_boundaries_selects_the_slices_inside(oblique, noise):
    from SDSegLib.volume_adapter import slice_range_from_points

    ijk_to_ras = _grid(oblique)
    corners = _corners(ijk_to_ras, 2.5 + noise, 4.5 + noise)  # the faces of slices 3 and 4
    assert slice_range_from_points(corners, ijk_to_ras, 10) == (3, 5)  # before: (3, 6), slice 5 only touched


def test_s21b_roi_slices_inside_and_thin_rois_are_unchanged():
    from SDSegLib.volume_adapter import slice_range_from_points

    ijk_to_ras = _grid(False)
    assert slice_range_from_points(_corners(ijk_to_ras, 2.4, 4.6), ijk_to_ras, 10) == (2, 6)  # reaching into 2 and 5
    assert slice_range_from_points(_corners(ijk_to_ras, 3.1, 3.3), ijk_to_ras, 10) == (3, 4)  # within one slice
    assert slice_range_from_points(_corners(ijk_to_ras, 4.5, 4.5), ijk_to_ras, 10) == (5, 6)  # flat, on a boundary
    assert slice_range_from_points(_corners(ijk_to_ras, -0.5, 9.5), ijk_to_ras, 10) == (0, 10)  # fit to the volume
