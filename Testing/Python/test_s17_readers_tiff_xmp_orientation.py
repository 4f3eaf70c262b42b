"""A TIFF whose orientation is given only in its XMP packet (``tiff:Orientation``, no Orientation tag).

libtiff, and so ITK and 3D Slicer, ignores XMP and shows the stored pixels; Pillow turned such a
picture by the XMP value as it loaded it, so the mask was segmented on a turned (or mirrored) grid
that does not line up in 3D Slicer. The reader now matches SimpleITK and warns that viewers may differ.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from SDSegLogic.io import read_image
from io_test_helpers import turn_revealing_picture

sitk = pytest.importorskip("SimpleITK")


def _xmp(orientation: int, form: str) -> bytes:
    value = (f'tiff:Orientation="{orientation}"/>' if form == "attribute"
             else f"><tiff:Orientation>{orientation}</tiff:Orientation></rdf:Description>")
    return ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
            f'xmlns:tiff="http://ns.adobe.com/tiff/1.0/"{value}</rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()


@pytest.mark.parametrize("orientation, form, compression", [
    (6, "attribute", "raw"), (8, "element", "tiff_lzw"), (3, "attribute", "tiff_deflate"), (2, "element", "raw"),
])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_xmp_only_orientation_reads_as_simpleitk_shows(tmp_path, orientation, form, compression, mode):
    from PIL import Image, TiffImagePlugin

    stored = turn_revealing_picture(mode)
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[700] = _xmp(orientation, form)
    tags.tagtype[700] = 1  # BYTE, as Adobe writes it
    path = tmp_path / "scan.tif"
    Image.fromarray(stored).save(path, tiffinfo=tags, compression=compression)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = read_image(path)
    itk = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # what 3D Slicer shows: the stored pixels
    assert np.array_equal(itk, stored)
    assert data.array.shape[1:3] == itk.shape[:2]
    assert np.array_equal(data.array[0], itk.astype(np.float32))
    assert any(f"scan.tif: the XMP tiff:Orientation {orientation} is ignored" in str(w.message) for w in caught)
