"""A TIFF Orientation tag stored as LONG (not the SHORT the TIFF spec names) is read as 3D Slicer shows it.

libtiff (ITK, 3D Slicer) and Pillow both accept a LONG Orientation; the reader only neutralised a SHORT
one, so Pillow turned such a picture by 90 degrees (Orientation 5-8) while Slicer only mirrors it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from SDSegLogic.io import read_image

sitk = pytest.importorskip("SimpleITK")


@pytest.mark.parametrize("orientation", [2, 3, 5, 6, 7, 8])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_long_orientation_tag_reads_as_simpleitk_shows(tmp_path, orientation, mode):
    from PIL import Image, TiffImagePlugin

    picture = np.zeros((20, 30, 3), np.uint8)
    picture[:5, :, 0] = 255  # a red top band and a green left band: any turn or mirror shows
    picture[:, :3, 1] = 200
    picture[12, 17] = (7, 9, 11)
    stored = picture if mode == "RGB" else picture[..., 0] // 2 + picture[..., 1] // 3 + picture[..., 2]
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
