"""A DICOM series whose files lack where their pixels lie is refused by name, not read on a made-up grid.

GDCM gives a series the axes and pixel spacing of its first file and makes up what that file lacks:
without ImagePositionPatient in any file it stacked the slices 1 mm apart at the origin (the files say
7 mm apart), without ImageOrientationPatient in the first file an oblique series got identity axes, and
without PixelSpacing in the first file (or with another PixelSpacing there) every slice got that file's
pixel size; each read without a word. Without ImagePositionPatient in one file the refusal blamed "slice
spacing is not uniform (step 1 is 14.000 mm)". A multi-frame file (positions per frame) and a single image
(a 2-D picture, no stack) still read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from io_test_helpers import geometry_for, rotation, write_dicom_series, write_enhanced_dicom
from SDSegLogic.errors import GeometryError
from SDSegLogic.io import read_image

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("SimpleITK")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SHAPE = (5, 6, 7)
GRID = geometry_for(rotation(20, 10), SHAPE, spacing=(0.5, 0.9, 7.0))
VALUES = (np.arange(np.prod(SHAPE)).reshape(SHAPE) * 3 - 100).astype(np.float32)


def _series(folder: Path, edit: dict) -> list:
    """The series in ``folder``; file ``k`` saved again after ``edit[k](dataset)``."""
    folder.mkdir()
    names = write_dicom_series(folder, VALUES, GRID, intercept=0.0)
    for k, change in edit.items():
        ds = pydicom.dcmread(names[k])
        change(ds)
        ds.save_as(names[k], enforce_file_format=True)
    return names


def _without(keyword: str):
    return lambda ds: delattr(ds, keyword)


def _coarser(ds) -> None:
    ds.PixelSpacing = ["1.8", "1.0"]


@pytest.mark.parametrize("edit, match", [
    ({2: _without("ImagePositionPatient")}, r"1 of the 5 files .*slice_002\.dcm \(ImagePositionPatient\)"),
    ({k: _without("ImagePositionPatient") for k in range(5)}, r"5 of the 5 files .*; and 2 more"),
    ({0: _without("ImageOrientationPatient")}, r"slice_000\.dcm \(ImageOrientationPatient\)"),
    ({0: _without("PixelSpacing")}, r"slice_001\.dcm has '0\.900000\\\\0\.500000', slice_000\.dcm has 'none'"),
    ({3: _coarser}, r"slice_003\.dcm has '1\.8\\\\1\.0'"),
], ids=["position of one", "position of all", "orientation of the first", "pixel spacing of the first",
        "pixel spacing of one"])
def test_a_series_its_files_do_not_place_is_refused_by_name(tmp_path, edit, match):
    _series(tmp_path / "ct", edit)
    with pytest.raises(GeometryError, match=match):
        read_image(tmp_path / "ct")


def test_a_complete_series_and_a_single_image_still_read(tmp_path):
    _series(tmp_path / "ct", {})
    image = read_image(tmp_path / "ct")
    np.testing.assert_array_equal(image.array, VALUES)
    GRID.require_same(image.geometry)
    alone = tmp_path / "one"
    names = _series(alone, {0: _without("ImagePositionPatient")})
    for name in names[1:]:
        Path(name).unlink()
    np.testing.assert_array_equal(read_image(alone).array, VALUES[:1])


def test_a_multiframe_file_has_its_positions_per_frame(tmp_path):
    name = tmp_path / "enhanced.dcm"
    write_enhanced_dicom(name, VALUES, GRID)
    image = read_image(name)
    np.testing.assert_allclose(image.array, VALUES)
    GRID.require_same(image.geometry)
