"""A TIFF Orientation tag stored as LONG (not the SHORT the TIFF spec names) is read as 3D Slicer shows it.

libtiff (ITK, 3D Slicer) and Pillow both accept a LONG Orientation; the reader only neutralised a SHORT
one, so Pillow turned such a picture by 90 degrees (Orientation 5-8) while Slicer only mirrors it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from SDSegLogic.io import read_image
from io_test_helpers import turn_revealing_picture

sitk = pytest.importorskip("SimpleITK")


@pytest.mark.parametrize("orientation", [2, 3, 5, 6, 7, 8])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_long_orientation_tag_reads_as_simpleitk_shows(tmp_path, orientation, mode):
    from PIL import Image, TiffImagePlugin

    stored = turn_revealing_picture(mode)
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[274] = orientation
    tags.tagtype[274] = 4  # LONG
    path = tmp_path / "scan.tif"
    Image.fromarray(stored).save(path, tiffinfo=tags)
    assert Image.open(path).tag_v2.tagtype[274] == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = read_image(path)
    itk = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # libtiff's RGBA reader: RGBA, the grid as Slicer shows it
    shown = itk[..., :3] if mode == "RGB" else itk[..., 0]
    assert data.array.shape[1:3] == shown.shape[:2]
    assert np.array_equal(data.array[0], shown.astype(np.float32))
