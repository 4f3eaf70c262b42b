"""A ``.mha`` whose header does not start with ObjectType/NDims/... is read, as SimpleITK reads it.

MetaIO takes the fields of a header in any order (only NDims must precede the per-axis fields), so
``BinaryData = True`` or ``AnatomicalOrientation = RAI`` may come first. The format sniffer knew only
five opening fields and refused such a file: "the extension says metaimage but the content is not a
recognised image format; rename the file".
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image

_VOLUME = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 60  # (K, J, I)
_FIELDS = ["ObjectType = Image", "NDims = 3", "DimSize = 6 5 4", "ElementType = MET_SHORT",
           "ElementSpacing = 0.5 0.75 2", "Offset = 1 2 3"]


def _mha(path, first: str):
    """A ``.mha`` with ``first`` as its opening field, then the usual ones and the voxels (LOCAL)."""
    text = "\n".join([first] + _FIELDS + ["ElementDataFile = LOCAL"]) + "\n"
    path.write_bytes(text.encode() + _VOLUME.astype("<i2").tobytes())
    return path


@pytest.mark.parametrize("first", ["BinaryData = True", "BinaryDataByteOrderMSB = False", "CompressedData = False",
                                   "AnatomicalOrientation = RAI", "ElementNumberOfChannels = 1", "HeaderSize = 0",
                                   "ObjectSubType = Volume"])
def test_metaimage_with_another_opening_field_is_read_like_simpleitk(tmp_path, first):
    import SimpleITK as sitk

    path = _mha(tmp_path / "volume.mha", first)
    data = read_image(path)
    image = sitk.ReadImage(str(path))
    assert np.array_equal(data.array, sitk.GetArrayFromImage(image).astype(np.float32))
    np.testing.assert_allclose(data.geometry.origin, image.GetOrigin())
    np.testing.assert_allclose(data.geometry.spacing, image.GetSpacing())


def test_text_that_is_not_a_metaimage_header_is_still_refused(tmp_path):
    path = tmp_path / "notes.mha"
    path.write_text("Dear colleague = here is the scan you asked for\nBest regards\n")
    with pytest.raises(InputError, match="not a recognised image format"):
        read_image(path)
