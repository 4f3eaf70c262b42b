"""Reading a DICOM series reads each file's header once with SimpleITK, not twice.

The pass over the folder that finds multi-frame files (a GDCM crash guard) reads every header; the
slice positions, orientation, size and rescale of the chosen series come from that same pass. A spy
wraps the real ``SimpleITK.ImageFileReader.ReadImageInformation`` and counts the files it reads.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from io_test_helpers import geometry_for, marker_array, rotation, write_dicom_series
from SDSegLogic.io import read_image

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("pydicom")


@pytest.fixture
def header_reads(monkeypatch) -> Counter:
    """File name -> how often ``ReadImageInformation`` read it (the real reader still does the work)."""
    reads: Counter = Counter()
    real = sitk.ImageFileReader.ReadImageInformation

    def spy(self, *args, **kwargs):
        reads[Path(self.GetFileName()).name] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(sitk.ImageFileReader, "ReadImageInformation", spy)
    return reads


@pytest.mark.parametrize("named", [False, True], ids=["folder", "one file"])
def test_each_header_is_read_once(tmp_path, header_reads, named):
    hu, grid = marker_array(), geometry_for(rotation(20, 10), spacing=(0.5, 0.9, 2.5))
    files = write_dicom_series(tmp_path, hu, grid, series_uid="1.2.826.0.1.3680043.2.1125.17.1")
    write_dicom_series(tmp_path, hu[:3], grid, series_uid="1.2.826.0.1.3680043.2.1125.17.2", prefix="other")
    data = read_image(Path(files[2]) if named else tmp_path)
    assert np.allclose(data.array, hu, atol=0.5)  # the larger series, whole and right
    names = {Path(f).name for f in files} | {f"other_{k:03d}.dcm" for k in range(3)}
    assert set(header_reads) == names  # every header was read ...
    assert max(header_reads.values()) == 1, header_reads  # ... once
