"""Text MetaImage data (BinaryData = False) that its integer ElementType would change is refused by name.

MetaIO reads text values through a double and casts them: ``300`` in a MET_UCHAR file became 44, ``40000`` in a
MET_SHORT one -25536, ``1.7`` became 1 and a MET_LONG_LONG 9007199254740993 became ...992, all silently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io.readers import read_image, read_voxels


def _text_mha(path: Path, element: str, values: str, data_file: str = "LOCAL") -> Path:
    """A 2 x 2 x 1 MetaImage with text voxel data ``values`` of ``element`` type, in the header or in ``data_file``."""
    path.write_text("ObjectType = Image\nNDims = 3\nBinaryData = False\nDimSize = 2 2 1\nElementSpacing = 1 1 1\n"
                    f"ElementType = {element}\nElementDataFile = {data_file}\n" + (values + "\n" if data_file == "LOCAL"
                                                                                  else ""))
    if data_file != "LOCAL":
        (path.parent / data_file).write_text(values + "\n")
    return path


@pytest.mark.parametrize("element, values, bad", [
    ("MET_UCHAR", "1 300 3 4", "300"),
    ("MET_SHORT", "1 -2 40000 4", "40000"),
    ("MET_UCHAR", "1 1.7 3 4", "1.7"),
    ("MET_LONG_LONG", "9007199254740993 -2 3 4", "9007199254740993"),
])
def test_text_value_the_type_would_change_is_refused(tmp_path, element, values, bad):
    path = _text_mha(tmp_path / "text.mha", element, values)
    for read in (read_image, read_voxels):
        with pytest.raises(InputError, match=rf"(?s)text\.mha.*{bad}.*{element}"):
            read(path)


def test_text_in_a_data_file_is_checked_too(tmp_path):
    path = _text_mha(tmp_path / "split.mhd", "MET_USHORT", "1 2 70000 4", data_file="split.txt")
    with pytest.raises(InputError, match=r"(?s)split\.mhd.*70000.*MET_USHORT"):
        read_voxels(path)


@pytest.mark.parametrize("element, values", [
    ("MET_UCHAR", "0 1 254 255"),
    ("MET_SHORT", "-32768 32767 0 -1"),
    ("MET_INT", "-2147483648 2147483647 16777217 5"),
    ("MET_LONG_LONG", "9007199254740992 -2 3 4"),
    ("MET_FLOAT", "1.7 -2.5 1e30 5"),
])
def test_text_values_the_type_holds_read_as_simpleitk(tmp_path, element, values):
    sitk = pytest.importorskip("SimpleITK")
    path = _text_mha(tmp_path / "ok.mha", element, values)
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    voxels, _ = read_voxels(path)
    np.testing.assert_array_equal(voxels.reshape(reference.shape), reference)
