"""A DICOM rescale that carries finite stored pixels beyond float32 is refused by name, not read as infinity.

A DICOM series' stored pixels are finite integers. Read as float32 with an extreme slope, they became ``inf``
without a word, where SimpleITK's own read of the series holds finite float64 values; the NaN policy then called
real voxels "NaN or infinite" and ``fill`` replaced them with the window minimum. A NIfTI rescale that overflows
stays ``inf``, as ITK reads it (test_io_nifti_fast_path); a wide but finite one reads as SimpleITK reads it.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io.readers import read_image

sitk = pytest.importorskip("SimpleITK")

#: uint16 stored values, (K, J, I) = (3, 2, 4); 65535 is the largest
STORED = np.array([0, 1, 4095, 65535, 30000, 12345, 2, 3] * 3, dtype=np.uint16).reshape(3, 2, 4)


def _dicom_series(folder: Path, slope: str) -> Path:
    """A uint16 CT series (BitsStored 16, PixelRepresentation 0) of ``STORED`` with RescaleSlope ``slope``."""
    pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    folder.mkdir()
    for k in range(STORED.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.2.1125.7.{k + 1}"
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        name = str(folder / f"slice_{k:03d}.dcm")
        ds = FileDataset(name, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = "1.2.826.0.1.3680043.2.1125.7"
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.2.1125.7.100"
        ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.2.1125.7.200"
        ds.Modality, ds.PatientName, ds.PatientID, ds.InstanceNumber = "CT", "Anonymous", "0", k + 1
        ds.ImagePositionPatient = ["0", "0", str(k)]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.PixelSpacing, ds.SliceThickness = ["1", "1"], "1"
        ds.Rows, ds.Columns = STORED.shape[1], STORED.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = slope, "0"
        ds.PixelData = STORED[k].tobytes()
        ds.save_as(name, enforce_file_format=True)
    return folder


def _nifti(path: Path, slope: float) -> Path:
    """``STORED`` as a uint16 NIfTI-1 written by SimpleITK, then given ``scl_slope`` = ``slope`` (float32 field)."""
    sitk.WriteImage(sitk.GetImageFromArray(STORED), str(path))
    raw = bytearray(path.read_bytes())
    struct.pack_into("<ff", raw, 112, slope, 0.0)
    path.write_bytes(bytes(raw))
    return path


def test_dicom_slope_beyond_float32_is_refused_by_name(tmp_path):
    folder = _dicom_series(tmp_path / "pet", "1e36")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    reference = sitk.GetArrayFromImage(reader.Execute())
    assert np.all(np.isfinite(reference)) and reference.max() > np.finfo(np.float32).max  # ITK: finite, wide
    with pytest.raises(InputError, match=r"(?s)rescale.*slope 1e\+36.*float32"):
        read_image(folder)


@pytest.mark.parametrize("slope", ["100", "0.01"])
def test_dicom_large_or_small_slope_reads_as_simpleitk(tmp_path, slope):
    """The check refuses only overflow: PET-like slopes read with SimpleITK's values (to float32)."""
    folder = _dicom_series(tmp_path / "pet", slope)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    reference = sitk.GetArrayFromImage(reader.Execute()).astype(np.float32)
    np.testing.assert_array_equal(read_image(folder).array, reference)


def test_nifti_wide_but_finite_rescale_reads_as_simpleitk(tmp_path):
    """uint16 65535 x 2e33 is finite in float32: read as SimpleITK reads it, no refusal."""
    path = _nifti(tmp_path / "wide_ok.nii", 2e33)
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    assert np.all(np.isfinite(reference))
    np.testing.assert_array_equal(read_image(path).array, reference)
