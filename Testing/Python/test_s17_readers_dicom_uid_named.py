"""A DICOM file named by its UID (``1.2.840....``, as PACS exports and storage SCPs name them) reads when named.

Only DICOM files without a dot in their name were accepted; a UID-named file was refused as an
"unsupported file type '.3'", although SimpleITK (GDCM) and 3D Slicer read DICOM by content.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from io_test_helpers import geometry_for, marker_array, rotation, write_dicom_series
from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image
from SDSegLogic.io.dicom_sources import load_dicom_sources

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("pydicom")


def test_uid_named_dicom_file_reads_its_series(tmp_path):
    hu, grid = marker_array(), geometry_for(rotation(20, 10), spacing=(0.5, 0.9, 2.5))
    names = []
    for k, name in enumerate(write_dicom_series(tmp_path, hu, grid)):
        uid = Path(tmp_path / f"1.2.826.0.1.3680043.2.1125.1.{k + 1}")
        Path(name).rename(uid)
        names.append(uid)
    data = read_image(names[3])
    assert np.allclose(data.array, hu, atol=0.5)
    grid.require_same(data.geometry)
    itk = sitk.ReadImage(str(names[3]))  # what 3D Slicer reads for the single file
    assert itk.GetSize()[:2] == data.geometry.shape[:2]
    sources = load_dicom_sources(names[3], data.geometry)  # the DICOM SEG output of such an input
    assert [Path(f).name for f in sources.files] == [n.name for n in names]


def test_other_content_with_an_unknown_ending_is_still_refused(tmp_path):
    (tmp_path / "notes.1").write_bytes(b"plain text, no image" * 20)
    with pytest.raises(InputError, match=r"notes\.1: unsupported file type '\.1'"):
        read_image(tmp_path / "notes.1")
