"""DICOM label series for reader and scoring tests: a small oblique-free grid and a pydicom series writer."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pytest

from SDSegLogic.geometry import ImageGeometry

BIG = 2 ** 24  # float32 holds every integer up to here, and not 2**24 + 1


@pytest.fixture()
def grid() -> ImageGeometry:
    """A 7 x 6 x 5 (I, J, K) grid with anisotropic spacing, axis-aligned."""
    return ImageGeometry((0.9, 1.4, 2.5), (3.0, -7.0, 11.0), np.eye(3), (7, 6, 5))


def big_labels(grid: ImageGeometry, big: int, dtype=np.int64) -> np.ndarray:
    """(K, J, I) ``dtype``: label 7, ``big`` and ``big + 1`` (neighbours float32 cannot tell apart past 2**24)."""
    out = np.zeros(grid.array_shape, dtype)
    out[1:3, 1:3, 1:4] = big + 1
    out[3:5, 2:5, 2:6] = big
    out[0, 0, 0] = 7
    return out


def write_label_series(folder: Path, stored: np.ndarray, geometry: ImageGeometry, dtype: str = "uint32",
                       rescale: Optional[Sequence[tuple]] = None) -> Path:
    """Write ``stored`` (K, J, I) as a DICOM series of ``dtype`` pixels, one file per k-slice, with pydicom.

    Args:
        folder: the series folder to create (must not exist).
        stored: (K, J, I) stored pixel values; cast to ``dtype`` little-endian.
        geometry: the grid the series lies on.
        dtype: numpy integer type of the pixels (8, 16 or 32 bits, signed or unsigned).
        rescale: per slice k, ``(slope, intercept)``; None writes no rescale.

    Returns:
        ``folder``.
    """
    pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    kind = np.dtype(dtype)
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
        bits = kind.itemsize * 8
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, int(kind.kind == "i")
        if rescale is not None:
            ds.RescaleSlope, ds.RescaleIntercept = f"{rescale[k][0]:g}", f"{rescale[k][1]:g}"
        ds.PixelData = stored[k].astype(kind.newbyteorder("<")).tobytes()
        ds.save_as(ds.filename, enforce_file_format=True)
    return folder
