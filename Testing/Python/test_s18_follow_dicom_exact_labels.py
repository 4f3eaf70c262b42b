"""A DICOM label series is read in an exact type, so labels from 2**24 on stay apart (not merged, not refused).

The series are written with pydicom: 32-bit unsigned pixels (as label exporters write instance maps), with no
rescale, with an integer rescale (slope 2, intercept 5) and with a rescale that differs per slice. Images are
still read as float32 (:func:`SDSegLogic.io.read_image`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.errors import InputError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io import read_image
from SDSegLogic.io.label_files import read_label_volume
from test_score import write_labelmap

BIG = 2 ** 24  # float32 holds every integer up to here, and not 2**24 + 1


@pytest.fixture()
def grid():
    return ImageGeometry((0.9, 1.4, 2.5), (3.0, -7.0, 11.0), np.eye(3), (7, 6, 5))


def _labels(grid: ImageGeometry, big: int) -> np.ndarray:
    """(K, J, I) int64: label 7, ``big`` and ``big + 1``."""
    out = np.zeros(grid.array_shape, np.int64)
    out[1:3, 1:3, 1:4] = big + 1
    out[3:5, 2:5, 2:6] = big
    out[0, 0, 0] = 7
    return out


def write_series(folder: Path, stored: np.ndarray, geometry: ImageGeometry,
                 rescale: Optional[Sequence[tuple]] = None) -> Path:
    """``stored`` (K, J, I) as 32-bit unsigned pixels, one file per slice; ``rescale[k]`` = (slope, intercept)."""
    pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir()
    series, study, frame_of_reference = generate_uid(), generate_uid(), generate_uid()
    for k in range(stored.shape[0]):
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
        ds.Rows, ds.Columns = stored.shape[1], stored.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 32, 32, 31, 0
        if rescale is not None:
            ds.RescaleSlope, ds.RescaleIntercept = f"{rescale[k][0]:g}", f"{rescale[k][1]:g}"
        ds.PixelData = stored[k].astype("<u4").tobytes()
        ds.save_as(ds.filename, enforce_file_format=True)
    return folder


def test_labels_above_2_to_the_24_are_read_exactly(tmp_path, grid, capsys):
    """Before: refused (read as float32, 16777217 would be 16777216). Now: three segments, every voxel exact."""
    labels = _labels(grid, BIG)
    folder = write_series(tmp_path / "labels", labels, grid)
    volume = read_label_volume(folder)
    assert [s.value for s in volume.segments] == [7, BIG, BIG + 1]
    np.testing.assert_array_equal(volume.layers[0], labels)
    prediction = write_labelmap(tmp_path / "prediction.nrrd", labels, grid, dtype=np.uint32)
    assert main(["score", str(prediction), str(folder)]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"label {BIG + 1}" in out and f"label {BIG}" in out


def test_an_integer_rescale_keeps_labels_exact(tmp_path, grid):
    """Stored s with slope 2 and intercept 5: labels 2 s + 5 past 2**24, exact (float32 would round them)."""
    stored = _labels(grid, 2 ** 23)  # 2**23 and 2**23 + 1 -> labels 2**24 + 5 and 2**24 + 7
    folder = write_series(tmp_path / "labels", stored, grid, rescale=[(2, 5)] * grid.array_shape[0])
    volume = read_label_volume(folder)
    expected = stored * 2 + 5
    np.testing.assert_array_equal(volume.layers[0], expected)
    assert [s.value for s in volume.segments] == sorted(set(expected.ravel().tolist()))


def test_a_per_slice_integer_rescale_keeps_labels_exact(tmp_path, grid):
    """Slices with different integer intercepts: each slice rescaled by its own, exactly."""
    stored = _labels(grid, BIG)
    rescale = [(1, 10 * k) for k in range(grid.array_shape[0])]
    folder = write_series(tmp_path / "labels", stored, grid, rescale=rescale)
    volume = read_label_volume(folder)
    expected = stored + np.array([r[1] for r in rescale])[:, None, None]
    np.testing.assert_array_equal(volume.layers[0], expected)


def test_a_non_integer_rescale_is_still_refused_past_float_exactness(tmp_path, grid):
    """Slope 0.5: the labels are floats; whole-number ones read, non-whole ones refused as not labels."""
    stored = _labels(grid, 100)
    stored[0, 0, 1] = 3  # 1.5: not an integer label
    folder = write_series(tmp_path / "labels", stored, grid, rescale=[(0.5, 0)] * grid.array_shape[0])
    with pytest.raises(InputError, match="not an integer"):
        read_label_volume(folder)


def test_an_image_series_is_still_read_as_float32(tmp_path, grid):
    stored = _labels(grid, 1000)
    folder = write_series(tmp_path / "image", stored, grid, rescale=[(2, 5)] * grid.array_shape[0])
    array = read_image(folder).array
    assert array.dtype == np.float32
    np.testing.assert_array_equal(array, (stored * 2 + 5).astype(np.float32))
