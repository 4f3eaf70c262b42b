"""DICOM files stored without the 128-byte preamble and ``DICM`` marker read as the DICOM they are.

GDCM (so SimpleITK and 3D Slicer) reads a bare DICOM data set (older exports, some research tools write them);
``detect_format`` knew DICOM only by ``DICM`` at byte 128 and refused such a ``.dcm`` with "the extension says
dicom but the content is not a recognised image format; rename the file", and ``sdseg score`` took a folder of
them for a folder of cases. The series is written with pydicom (``io_test_helpers.write_dicom_series``) and each
file saved again without preamble and file meta, in implicit or explicit VR little endian.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.cli import EXIT_OK, main
from SDSegLogic.errors import InputError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io import read_image
from SDSegLogic.overlap_metrics import segment_scores
from io_test_helpers import write_dicom_series
from test_score import write_labelmap

pydicom = pytest.importorskip("pydicom")
sitk = pytest.importorskip("SimpleITK")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

GRID = ImageGeometry((0.9, 1.4, 2.5), (3.0, -7.0, 11.0), np.eye(3), (7, 6, 5))


def _bare_series(folder: Path, values: np.ndarray, implicit: bool) -> Path:
    """A series of ``values`` (K, J, I) whose files hold the data set alone: no preamble, no ``DICM``, no meta."""
    folder.mkdir()
    write_dicom_series(folder, values.astype(np.float64), GRID, series_uid="1.2.826.0.1.3680043.2.1125.197",
                       intercept=0.0)
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        ds.preamble = None
        del ds.file_meta
        pydicom.dcmwrite(path, ds, implicit_vr=implicit, little_endian=True, enforce_file_format=False)
        assert path.read_bytes()[128:132] != b"DICM" and path.read_bytes()[:2] == b"\x08\x00"
    then = time.time() - 60.0
    for path in folder.iterdir():
        os.utime(path, (then, then))
    return folder


@pytest.mark.parametrize("implicit", [True, False])
def test_a_bare_dicom_file_reads_as_simpleitk_reads_it(tmp_path, implicit):
    values = np.arange(np.prod(GRID.array_shape), dtype=np.int16).reshape(GRID.array_shape)
    folder = _bare_series(tmp_path / "ct", values, implicit)
    one = folder / sorted(p.name for p in folder.iterdir())[0]
    expected = sitk.ReadImage(str(one))
    assert expected.GetSize()[:2] == (7, 6)
    image = read_image(one)
    np.testing.assert_array_equal(image.array, values.astype(np.float32))  # the file's series, as GDCM lists it
    np.testing.assert_array_equal(read_image(folder).array, values.astype(np.float32))


def test_a_folder_of_bare_dicom_files_is_one_series_to_score(tmp_path):
    ref = np.zeros(GRID.array_shape, np.int16)
    ref[0:4, 1:4, 1:5] = 1
    pred = ref.copy()
    pred[3] = 0
    series = _bare_series(tmp_path / "pred", pred, implicit=True)
    reference = write_labelmap(tmp_path / "ref.nrrd", ref, GRID)
    out = tmp_path / "one.json"
    assert main(["score", str(series), str(reference), "-o", str(out)]) == EXIT_OK
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [r["dice"] for r in report["segments"]] == [segment_scores(pred == 1, ref == 1, GRID.spacing)["dice"]]


def test_other_content_named_dcm_is_still_refused(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_bytes(b"hello, this is not DICOM at all" * 20)
    with pytest.raises(InputError, match="not a recognised image format"):
        read_image(path)
