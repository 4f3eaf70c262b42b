"""``sdseg score`` reads what the files hold: integer labels above 2**24, and which series a DICOM SEG was made for.

Labelmaps are written with SimpleITK and pynrrd directly (as other tools write them), the DICOM
label series and the SEG with pydicom (the writers of ``io_test_helpers`` and ``test_score_pairing``).
"""

from __future__ import annotations

from pathlib import Path

import nrrd
import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.cli_score import score_files
from SDSegLogic.errors import InputError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io.label_files import read_label_volume
from io_test_helpers import write_dicom_series
from test_score import write_labelmap
from test_score_pairing import write_dicom_seg

BIG = 2 ** 24  # float32 holds every integer up to here, and not 2**24 + 1


@pytest.fixture()
def grid():
    direction = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, -1]])
    return ImageGeometry((0.9, 1.4, 2.5), (3.0, -7.0, 11.0), direction, (7, 6, 5))


@pytest.fixture()
def big_labels(grid):
    """(K, J, I) int64: two neighbouring labels above 2**24 that float32 cannot tell apart, and a small one."""
    out = np.zeros(grid.array_shape, np.int64)
    out[1:3, 1:3, 1:4] = BIG + 1
    out[3:5, 2:5, 2:6] = BIG + 3
    out[0, 0, 0] = 7
    return out


def _write_nrrd(path: Path, labels: np.ndarray, geometry: ImageGeometry, dtype) -> Path:
    header = {"space": "left-posterior-superior", "space origin": np.asarray(geometry.origin),
              "space directions": (geometry.direction_matrix * np.asarray(geometry.spacing)).T,
              "kinds": ["domain"] * 3}
    nrrd.write(str(path), np.transpose(labels, (2, 1, 0)).astype(dtype), header, index_order="F")
    return path


@pytest.mark.parametrize("name,dtype", [("int32.nii.gz", np.int32), ("uint32.nrrd", np.uint32), ("int64.mha", np.int64),
                                        ("float64.nii", np.float64), ("pynrrd-int32.nrrd", np.int32)])
def test_labels_above_2_to_the_24_keep_their_values(tmp_path, grid, big_labels, name, dtype):
    """16777217 and 16777219 are distinct segments, not merged into float32's 16777216 and 16777220."""
    if name.startswith("pynrrd"):
        path = _write_nrrd(tmp_path / name, big_labels, grid, dtype)
    else:
        path = write_labelmap(tmp_path / name, big_labels, grid, dtype=dtype)
    volume = read_label_volume(path)
    assert [s.value for s in volume.segments] == [7, BIG + 1, BIG + 3]
    for segment in volume.segments:
        np.testing.assert_array_equal(volume.mask(segment), big_labels == segment.value)
    swapped = np.where(big_labels == BIG + 1, BIG + 3, np.where(big_labels == BIG + 3, BIG + 1, big_labels))
    reference = write_labelmap(tmp_path / f"ref-{name}", swapped, grid, dtype=dtype)
    dice = {r["prediction_values"][0]: r["dice"] for r in score_files(str(path), str(reference))["segments"]}
    assert dice == {7: 1.0, BIG + 1: 0.0, BIG + 3: 0.0}


def test_a_frame_of_a_4d_labelmap_keeps_labels_above_2_to_the_24(tmp_path, grid, big_labels):
    """A frame of a 4-D labelmap is read in its own voxel type too: 16777217 and 16777219 stay apart."""
    import SimpleITK as sitk

    shifted = np.where(big_labels > BIG, big_labels + 4, big_labels)
    image = sitk.GetImageFromArray(np.stack([big_labels, shifted]).astype(np.int32), isVector=False)
    sitk.WriteImage(image, str(tmp_path / "frames.nii.gz"))
    for frame, expected in ((0, big_labels), (1, shifted)):
        volume = read_label_volume(tmp_path / "frames.nii.gz", frame=frame)
        assert [s.value for s in volume.segments] == sorted(set(np.unique(expected).tolist()) - {0})
        np.testing.assert_array_equal(volume.layers[0], expected)


def test_labels_too_large_for_the_label_type_are_refused_naming_the_file(tmp_path, grid, big_labels):
    path = write_labelmap(tmp_path / "huge.nrrd", np.where(big_labels > 0, 2 ** 33, 0), grid, dtype=np.int64)
    with pytest.raises(InputError, match=r"huge\.nrrd: label 8589934592 is too large"):
        read_label_volume(path)


# ---------------------------------------------------------------------- which series a DICOM SEG was made for
SERIES_A, SERIES_B = "1.2.826.0.1.3680043.2.1125.7001", "1.2.826.0.1.3680043.2.1125.7002"


def _seg_for(path: Path, grid: ImageGeometry, labels: np.ndarray, series_uid: str) -> Path:
    """A SEG of ``labels`` 1 and 2 that references ``series_uid`` (as every SEG exporter writes it)."""
    from pydicom import dcmread
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    write_dicom_seg(path, grid, [labels == 1, labels == 2], ["liver", "spleen"], [1, 2])
    ds = dcmread(str(path))
    item = Dataset()
    item.SeriesInstanceUID = series_uid
    item.ReferencedInstanceSequence = Sequence([])
    ds.ReferencedSeriesSequence = Sequence([item])
    ds.save_as(str(path), enforce_file_format=True)
    return path


@pytest.fixture()
def label_series(tmp_path, grid):
    """A DICOM series (SeriesInstanceUID ``SERIES_B``) holding labels 0, 1, 2, and the labels."""
    pytest.importorskip("pydicom")
    labels = np.zeros(grid.array_shape, np.int16)
    labels[1:3, 1:4, 1:5] = 1
    labels[3:5, 2:5, 3:6] = 2
    folder = tmp_path / "labels-series"
    folder.mkdir()
    write_dicom_series(folder, labels.astype(np.float64), grid, series_uid=SERIES_B, intercept=0.0)
    return folder, labels


def test_a_dicom_seg_made_for_another_series_is_scored_with_a_warning(tmp_path, grid, label_series, capsys):
    """Same grid, other series: the voxels line up, so the scores stand, but the user is told which series differ."""
    folder, labels = label_series
    other = _seg_for(tmp_path / "other.seg.dcm", grid, labels, SERIES_A)
    for prediction, reference in ((other, folder), (folder, other)):
        report = score_files(str(prediction), str(reference))
        assert [r["dice"] for r in report["segments"]] == [1.0, 1.0]
        assert len(report["warnings"]) == 1
        warning = report["warnings"][0]
        assert all(text in warning for text in (str(other), str(folder), SERIES_A, SERIES_B))
    assert main(["score", str(other), str(folder)]) == EXIT_OK
    assert f"warning: {other}" in capsys.readouterr().out
    same = _seg_for(tmp_path / "same.seg.dcm", grid, labels, SERIES_B)
    assert score_files(str(same), str(folder))["warnings"] == []
    assert score_files(str(same), str(sorted(folder.iterdir())[0]))["warnings"] == []  # one file names the series


def test_a_seg_without_series_references_or_against_a_labelmap_has_no_warning(tmp_path, grid, label_series):
    """Nothing to compare: a SEG that names no series, or a NIfTI, which records none."""
    folder, labels = label_series
    bare = write_dicom_seg(tmp_path / "bare.seg.dcm", grid, [labels == 1, labels == 2], ["liver", "spleen"], [1, 2])
    assert score_files(str(bare), str(folder))["warnings"] == []
    seg = _seg_for(tmp_path / "a.seg.dcm", grid, labels, SERIES_A)
    nifti = write_labelmap(tmp_path / "labels.nii.gz", labels, grid)
    assert score_files(str(seg), str(nifti))["warnings"] == []
