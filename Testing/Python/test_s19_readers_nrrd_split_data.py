"""A detached NRRD header whose data are spread over several files is refused as such, not as a damaged file.

Teem (ITK, 3D Slicer) reads ``data file: LIST`` and ``data file: slice%d.raw 0 3 1 2``; this reader reads one
data file. It used to call the first "an invalid NRRD header" and the second "truncated or corrupt, re-export it"
(with a FileNotFoundError for the pattern text), sending the user after a defect the file does not have.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io.readers import read_image

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("nrrd")

HEADER = ("NRRD0004\ntype: short\ndimension: 3\nsizes: 6 5 4\nendian: little\nencoding: raw\nspace: LPS\n"
          "space directions: (0.5,0,0) (0,1.2,0) (0,0,2)\n")


@pytest.mark.parametrize("data_file", ["slice%d.raw 0 3 1 2", "LIST\nslice0.raw\nslice1.raw\nslice2.raw\nslice3.raw"])
def test_split_data_is_named_as_the_reason(tmp_path, data_file):
    values = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    for k in range(4):
        (tmp_path / f"slice{k}.raw").write_bytes(values[k].tobytes())
    path = tmp_path / "split.nhdr"
    path.write_text(HEADER + f"data file: {data_file}\n" + ("" if data_file.startswith("LIST") else "\n"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(path))), values)  # a valid file
    with pytest.raises(InputError, match="several files") as caught:
        read_image(path)
    message = str(caught.value)
    assert "split.nhdr" in message and "corrupt" not in message and "invalid" not in message


def test_one_data_file_with_a_percent_in_its_name_is_read(tmp_path):
    values = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    (tmp_path / "50%.raw").write_bytes(values.tobytes())
    path = tmp_path / "single.nhdr"
    path.write_text(HEADER + "data file: 50%.raw\n\n")
    np.testing.assert_array_equal(read_image(path).array, values)
