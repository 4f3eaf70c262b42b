"""DICOM geometry: multi-frame (enhanced) files, slices of several orientations, malformed position tags.

Each is read on the right grid or refused with a message naming the file and the remedy.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from io_test_helpers import geometry_for, marker_array, rotation, write_dicom_series, write_enhanced_dicom
from SDSegLogic.errors import GeometryError, InputError
from SDSegLogic.io import read_image


def _grid():
    return geometry_for(rotation(20, 10), spacing=(0.5, 0.9, 2.5))


def _frame_positions(path) -> np.ndarray:
    ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    return np.array([[float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient]
                     for f in ds.PerFrameFunctionalGroupsSequence])


@pytest.mark.parametrize("order", [None, [5, 4, 3, 2, 1, 0]], ids=["ascending", "descending"])
def test_enhanced_multiframe_file_is_read_on_its_frames_grid(tmp_path, order):
    hu, truth = marker_array(), _grid()
    write_enhanced_dicom(tmp_path / "mf.dcm", hu, truth, order=order)
    for where in (tmp_path / "mf.dcm", tmp_path):
        data = read_image(where)
        frames = list(range(6)) if order is None else order
        assert np.array_equal(data.array, hu[frames])  # voxel slice k holds frame k
        corners = data.geometry.index_to_world(np.array([[0.0, 0.0, float(k)] for k in range(6)]))
        np.testing.assert_allclose(corners, _frame_positions(tmp_path / "mf.dcm"), atol=1e-4)
        np.testing.assert_allclose(data.geometry.spacing, truth.spacing, rtol=1e-6)
        assert data.metadata["slices"] == 6


def test_memory_check_counts_the_frames(tmp_path):
    write_enhanced_dicom(tmp_path / "mf.dcm", marker_array(), _grid())  # 6 frames of 10 x 12
    with pytest.raises(InputError, match="memory budget"):
        read_image(tmp_path / "mf.dcm", max_bytes=4 * 10 * 12 * 6 - 1)
    assert read_image(tmp_path / "mf.dcm", max_bytes=4 * 10 * 12 * 6).array.shape == (6, 10, 12)


def _tilt(ds):
    for n, frame in enumerate(ds.PerFrameFunctionalGroupsSequence):
        x, y, z = (float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient)
        frame.PlanePositionSequence[0].ImagePositionPatient = [f"{x + 0.8 * n:.6f}", f"{y:.6f}", f"{z:.6f}"]


def _turn_one_frame(ds):
    d = rotation(25, 10)
    item = pydicom.Dataset()
    item.ImageOrientationPatient = [f"{v:.8f}" for v in [*d[:, 0], *d[:, 1]]]
    ds.PerFrameFunctionalGroupsSequence[3].PlaneOrientationSequence = pydicom.Sequence([item])


def _drop_frame_groups(ds):
    del ds.PerFrameFunctionalGroupsSequence


@pytest.mark.parametrize("case, message", [
    ({"order": [0, 1, 2, 4, 5]}, "spacing is not uniform"),
    ({"order": [0, 2, 1, 3, 4, 5]}, "spacing is not uniform"),
    ({"order": [0, 1, 2, 3, 4, 5, 4]}, "not stored in slice order"),
    ({"slopes": [1, 0.5, 1, 0.5, 1, 0.5]}, "different rescale"),
    (_tilt, "shifted sideways"),
    (_turn_one_frame, "different orientations"),
    (_drop_frame_groups, "without a position and orientation for every frame"),
], ids=["missing-frame", "shuffled", "back-and-forth", "per-frame-rescale", "tilted", "turned-frame", "cine"])
def test_multiframe_file_off_a_regular_grid_is_refused_by_name(tmp_path, case, message):
    hu = np.concatenate([marker_array(), marker_array()[:1]])  # 7 slices, for the back-and-forth order
    path = tmp_path / "mf.dcm"
    write_enhanced_dicom(path, hu, geometry_for(rotation(20, 10), shape_kji=hu.shape, spacing=(0.5, 0.9, 2.5)),
                         **{"order": range(6), **(case if isinstance(case, dict) else {})})
    if callable(case):
        ds = pydicom.dcmread(str(path))
        case(ds)
        ds.save_as(str(path))
    with pytest.raises(GeometryError, match=rf"mf.dcm.*{message}.*(3D Slicer|NRRD)"):
        read_image(path)


def test_series_mixing_multiframe_and_single_frame_files_names_them(tmp_path):
    """Checked on the file lists: GDCM's own series listing of such a folder can crash the process (see the report)."""
    from SDSegLogic.io._dicom import _multiframe_files

    hu, grid = marker_array(), _grid()
    write_enhanced_dicom(tmp_path / "mf.dcm", hu, grid)
    files = write_dicom_series(tmp_path, hu, grid) + [str(tmp_path / "mf.dcm")]
    frames = [1] * 6 + [6]
    with pytest.raises(InputError, match=r"holds 7 files, of which 1 multi-frame .*mf.dcm \(6 frames\).*Name the"):
        _multiframe_files(tmp_path, files, frames)
    assert _multiframe_files(tmp_path / "mf.dcm", files, frames) == ([str(tmp_path / "mf.dcm")], 6)
    assert _multiframe_files(tmp_path, files[:6], [1] * 6) == (files[:6], 6)


def test_series_with_a_slice_of_another_orientation_is_refused(tmp_path):
    """A slice turned in its plane keeps its position on the stack; GDCM would stack it as if it were not."""
    grid = geometry_for(np.eye(3), shape_kji=(4, 10, 12), spacing=(0.5, 0.9, 2.0))
    names = write_dicom_series(tmp_path, marker_array()[:4], grid)
    ds = pydicom.dcmread(names[2])
    d = rotation(15, 0)
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in [*d[:, 0], *d[:, 1]]]
    ds.save_as(names[2])
    with pytest.raises(GeometryError, match=r"different orientations \(slice_002.dcm has .*splits it by orientation"):
        read_image(tmp_path)


@pytest.mark.parametrize("keyword, value", [("ImagePositionPatient", ["1", "", "3"]),
                                            ("ImagePositionPatient", ["1", "2"]),
                                            ("ImageOrientationPatient", ["1", "0", "0", "0", "1"])])
def test_malformed_position_or_orientation_names_the_slice(tmp_path, keyword, value):
    names = write_dicom_series(tmp_path, marker_array()[:3], geometry_for(np.eye(3), shape_kji=(3, 10, 12)))
    ds = pydicom.dcmread(names[1])
    setattr(ds, keyword, value)
    ds.save_as(names[1])
    with pytest.raises(GeometryError, match=rf"slice_001.dcm: {keyword} is malformed .*re-export the series"):
        read_image(tmp_path)
