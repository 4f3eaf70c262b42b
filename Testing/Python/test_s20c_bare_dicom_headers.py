"""DICOM files stored without the 128-byte preamble and ``DICM`` marker: the header readers take them too.

The volume reader accepts such files (``sniff._dicom_without_preamble``; GDCM reads them), but the pydicom
header reads behind ``--dicom-seg`` (:func:`SDSegLogic.io.dicom_sources.load_dicom_sources`) and behind the
frame check of a multi-frame file (:mod:`SDSegLogic.io._dicom_frames`) refused them with "File is missing DICOM
File Meta Information header or the 'DICM' prefix is missing". Each file is written with pydicom and saved again
as the data set alone, in implicit or explicit VR little endian.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from cli_segment_fixtures import isolated_home, run, tiny_folder  # noqa: F401 - fixtures
from io_test_helpers import geometry_for, rotation, write_dicom_series, write_enhanced_dicom
from SDSegLogic.io import read_image
from SDSegLogic.io.dicom_sources import load_dicom_sources

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("SimpleITK")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SHAPE = (5, 6, 7)


def _strip(path: Path, implicit: bool) -> None:
    """Save ``path`` again without preamble, ``DICM`` and file meta; dated a minute back."""
    ds = pydicom.dcmread(path)
    ds.preamble = None
    del ds.file_meta
    pydicom.dcmwrite(path, ds, implicit_vr=implicit, little_endian=True, enforce_file_format=False)
    assert path.read_bytes()[128:132] != b"DICM"
    then = time.time() - 60.0
    os.utime(path, (then, then))


@pytest.mark.parametrize("implicit", [True, False])
def test_a_bare_series_is_segmented_to_a_dicom_seg(tmp_path, tiny_folder, capsys, implicit):
    """``sdseg segment <folder of bare DICOM> -o x.seg.dcm``: every frame references the file at its position."""
    pytest.importorskip("highdicom")
    shape = (4, 32, 32)
    grid = geometry_for(rotation(20, 10), shape)
    values = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) % 700.0 - 300.0
    folder = tmp_path / "ct"
    folder.mkdir()
    write_dicom_series(folder, values, grid, intercept=0.0)
    positions = {}
    for path in sorted(folder.iterdir()):
        _strip(path, implicit)
        ds = pydicom.dcmread(path, force=True)
        positions[ds.SOPInstanceUID] = np.array([float(v) for v in ds.ImagePositionPatient])
    image = read_image(folder)
    np.testing.assert_array_equal(image.array, values)
    sources = load_dicom_sources(folder, image.geometry)
    assert [int(ds.InstanceNumber) for ds in sources.datasets] == [1, 2, 3, 4]
    out = tmp_path / "result.seg.dcm"
    code, _, err = run(["segment", folder, "-o", out, "--model", tiny_folder, "--quiet"], capsys)
    assert code == 0, err
    seg = pydicom.dcmread(out)
    for item in seg.PerFrameFunctionalGroupsSequence:
        uid = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        plane = np.array([float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient])
        np.testing.assert_allclose(plane, positions[uid], atol=1e-3)


@pytest.mark.parametrize("implicit", [True, False])
def test_a_bare_multiframe_file_reads(tmp_path, implicit):
    grid = geometry_for(rotation(20, 10), SHAPE)
    values = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE) - 500.0
    name = tmp_path / "enhanced.dcm"
    write_enhanced_dicom(name, values, grid)
    _strip(name, implicit)
    image = read_image(name)
    np.testing.assert_allclose(image.array, values)
    grid.require_same(image.geometry)
