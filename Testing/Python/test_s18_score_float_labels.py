"""A labelmap whose voxels arrive as floats cannot hold labels from 2**24 on apart: refused, never merged.

A DICOM label series without a fractional rescale is read as integers, so a 32-bit label series written here
with pydicom (``BitsAllocated`` 32, as label exporters write instance maps) holding 16777216 and 16777217
keeps two segments. A float32 NRRD written with pynrrd holds such values as the file stores them,
and they cannot be told apart there either. Below 2**24 float voxels stay exact and are read.
"""

from __future__ import annotations

from pathlib import Path

import nrrd
import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.errors import InputError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io.label_files import read_label_volume
from test_score import write_labelmap

BIG = 2 ** 24  # float32 holds every integer up to here, and not 2**24 + 1


@pytest.fixture()
def grid():
    return ImageGeometry((0.9, 1.4, 2.5), (3.0, -7.0, 11.0), np.eye(3), (7, 6, 5))


def _labels(grid: ImageGeometry, big: int) -> np.ndarray:
    """(K, J, I) uint32: label 7, and ``big`` and ``big + 1`` (neighbours float32 cannot tell apart past 2**24)."""
    out = np.zeros(grid.array_shape, np.uint32)
    out[1:3, 1:3, 1:4] = big + 1
    out[3:5, 2:5, 2:6] = big
    out[0, 0, 0] = 7
    return out


def write_uint32_series(folder: Path, labels: np.ndarray, geometry: ImageGeometry) -> Path:
    """``labels`` (K, J, I) as a DICOM series of 32-bit unsigned pixels, one file per slice, no rescale."""
    pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir()
    series, study, frame_of_reference = generate_uid(), generate_uid(), generate_uid()
    for k in range(labels.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # secondary capture
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"label_{k:03d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame_of_reference
        ds.Modality, ds.InstanceNumber = "OT", k + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in geometry.index_to_world(np.array([0.0, 0.0, float(k)]))]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*geometry.direction_matrix[:, 0], *geometry.direction_matrix[:, 1])]
        ds.PixelSpacing = [f"{geometry.spacing[1]:g}", f"{geometry.spacing[0]:g}"]
        ds.SliceThickness = f"{geometry.spacing[2]:g}"
        ds.Rows, ds.Columns = labels.shape[1], labels.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 32, 32, 31, 0
        ds.PixelData = labels[k].astype("<u4").tobytes()
        ds.save_as(ds.filename, enforce_file_format=True)
    return folder


def test_a_dicom_label_series_above_2_to_the_24_keeps_every_label(tmp_path, grid, capsys):
    """16777216 and 16777217 stay two labels: a label series without a fractional rescale is read as integers
    (test_s18_follow_dicom_exact_labels.py); before, it was read as float32 and refused."""
    labels = _labels(grid, BIG)
    folder = write_uint32_series(tmp_path / "labels", labels, grid)
    volume = read_label_volume(folder)
    assert [s.value for s in volume.segments] == [7, BIG, BIG + 1]
    np.testing.assert_array_equal(volume.layers[0], labels)
    prediction = write_labelmap(tmp_path / "prediction.nrrd", labels, grid, dtype=np.uint32)
    assert main(["score", str(prediction), str(folder)]) == EXIT_OK
    assert f"label {BIG + 1}" in capsys.readouterr().out


def test_a_dicom_label_series_below_2_to_the_24_keeps_every_label(tmp_path, grid):
    """The same series with labels just below the limit: read exactly, every label its own segment."""
    labels = _labels(grid, BIG - 3)
    volume = read_label_volume(write_uint32_series(tmp_path / "labels", labels, grid))
    assert [s.value for s in volume.segments] == [7, BIG - 3, BIG - 2]
    np.testing.assert_array_equal(volume.layers[0], labels)


def test_a_float32_nrrd_with_labels_from_2_to_the_24_is_refused(tmp_path, grid):
    labels = _labels(grid, BIG).astype(np.float32)  # 16777217 is stored as 16777216 by the cast itself
    header = {"space": "left-posterior-superior", "space origin": np.asarray(grid.origin),
              "space directions": (grid.direction_matrix * np.asarray(grid.spacing)).T, "kinds": ["domain"] * 3}
    path = tmp_path / "labels.nrrd"
    nrrd.write(str(path), np.transpose(labels, (2, 1, 0)), header, index_order="F")
    with pytest.raises(InputError, match=r"labels\.nrrd: .*16777216"):
        read_label_volume(path)
