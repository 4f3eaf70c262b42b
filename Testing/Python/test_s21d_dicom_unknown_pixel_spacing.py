"""A DICOM series none of whose files has PixelSpacing is read as 3D Slicer reads it, but never silently.

GDCM (SimpleITK, 3D Slicer) gives such pixels 1 mm, or, for projection radiographs (CR/DX SOP classes),
ImagerPixelSpacing, which DICOM defines for them. Before, a CT series stripped of PixelSpacing was read with
1 x 1 mm pixels and no word, so the segmentation's mm sizes were invented without the user knowing.
"""

from __future__ import annotations

import numpy as np
import pytest
from cli_segment_fixtures import events, isolated_home, run, tiny_folder  # noqa: F401 (fixtures)
from io_test_helpers import geometry_for, write_dicom_series

from SDSegLogic.io import read_image

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("SimpleITK")

GEOMETRY = geometry_for(np.eye(3), (3, 8, 10), spacing=(0.5, 0.7, 2.0))


def _series(folder, imager=None, keep_spacing=False):
    """A 3-slice CT series (pydicom) whose files lack PixelSpacing (unless ``keep_spacing``)."""
    folder.mkdir()
    array = np.arange(240, dtype=np.float32).reshape(3, 8, 10) - 100
    for name in write_dicom_series(folder, array, GEOMETRY):
        ds = pydicom.dcmread(name)
        if not keep_spacing:
            del ds.PixelSpacing
        if imager is not None:
            ds.ImagerPixelSpacing = imager
        ds.save_as(name)
    return folder


def _spacing_warnings(data):
    return [w for w in data.metadata["warnings"] if "PixelSpacing" in w]


def test_series_without_pixel_spacing_warns_naming_the_tag_size_and_remedy(tmp_path):
    folder = _series(tmp_path / "ct")
    with pytest.warns(UserWarning, match="PixelSpacing"):
        data = read_image(folder)
    found = _spacing_warnings(data)
    assert len(found) == 1
    assert "none of the 3 files" in found[0] and "(0028,0030)" in found[0] and "1 x 1 mm" in found[0]
    assert "re-export" in found[0]
    assert data.geometry.spacing[:2] == pytest.approx((1.0, 1.0))  # as 3D Slicer places it
    assert data.geometry.spacing[2] == pytest.approx(2.0)  # the slice step still comes from the positions


def test_imager_pixel_spacing_of_a_ct_is_named_as_not_used(tmp_path):
    data = read_image(_series(tmp_path / "ct", imager=["0.7", "0.5"]))
    found = _spacing_warnings(data)
    assert len(found) == 1 and "ImagerPixelSpacing" in found[0] and "not used" in found[0]


def test_series_with_pixel_spacing_gets_no_such_warning(tmp_path):
    data = read_image(_series(tmp_path / "ct", keep_spacing=True))
    assert _spacing_warnings(data) == []
    assert data.geometry.spacing == pytest.approx(GEOMETRY.spacing)


def test_projection_radiograph_with_imager_pixel_spacing_reads_it_without_warning(tmp_path):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    dx = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = dx, "1.2.826.0.1.3680043.2.1125.7.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    name = str(tmp_path / "chest.dcm")
    ds = FileDataset(name, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = dx, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.826.0.1.3680043.2.1125.7", "1.2.826.0.1.3680043.2.1125.7.2"
    ds.Modality, ds.ImagerPixelSpacing = "DX", ["0.7", "0.5"]
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 8, 10, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.arange(80, dtype=np.uint16).tobytes()
    ds.save_as(name, enforce_file_format=True)
    data = read_image(name)
    assert _spacing_warnings(data) == []
    assert data.geometry.spacing[:2] == pytest.approx((0.5, 0.7))  # x between columns, y between rows


def test_single_frame_enhanced_file_with_spacing_in_functional_groups_gets_no_such_warning(tmp_path):
    from io_test_helpers import write_enhanced_dicom

    one = geometry_for(np.eye(3), (1, 8, 10), spacing=(0.5, 0.7, 2.0))
    path = tmp_path / "one.dcm"
    write_enhanced_dicom(path, np.zeros((1, 8, 10), np.float32), one)  # PixelSpacing only in PixelMeasuresSequence
    data = read_image(path)
    assert _spacing_warnings(data) == []
    assert data.geometry.spacing[:2] == pytest.approx((0.5, 0.7))


def test_the_warning_reaches_the_segment_report(tiny_folder, tmp_path, capsys):
    folder = _series(tmp_path / "ct")
    code, out, _ = run(["segment", folder, "-o", tmp_path / "o.seg.nrrd", "--model", tiny_folder, "--json"], capsys)
    assert code == 0
    done = next(e for e in events(out) if e["event"] == "volume_done")
    assert any("PixelSpacing" in w and "not real" in w for w in done["warnings"]), done["warnings"]
