"""ASCII NRRD integers outside their type, or not whole, are refused by name instead of wrapped or misreported.

An ASCII ``uchar`` NRRD holding ``300`` was read as 44 (and ``-1`` as 255), a ``short`` holding 40000 as -25536,
without a word: NumPy's text parser wraps, as ITK does. A whole-number type holding ``1.7`` was refused as
"truncated or corrupt", which names the wrong cause.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io.readers import read_image, read_voxels


def _ascii_nrrd(path: Path, kind: str, values: str) -> Path:
    """A 2 x 2 x 1 ASCII NRRD of type ``kind`` whose data are the text ``values``."""
    path.write_text(f"NRRD0004\ntype: {kind}\ndimension: 3\nsizes: 2 2 1\nspace: left-posterior-superior\n"
                    "space directions: (1,0,0) (0,1,0) (0,0,1)\nspace origin: (0,0,0)\nencoding: ascii\n\n"
                    f"{values}\n")
    return path


@pytest.mark.parametrize("kind, values, bad", [
    ("uchar", "7 300 255 5", "300"),
    ("uchar", "7 -1 255 5", "-1"),
    ("short", "40000 -4 5 5", "40000"),
    ("unsigned int", "1 2 4294967296 5", "4294967296"),
])
def test_ascii_integer_outside_its_type_is_refused(tmp_path, kind, values, bad):
    path = _ascii_nrrd(tmp_path / "wrap.nrrd", kind, values)
    for read in (read_image, read_voxels):
        with pytest.raises(InputError, match=rf"(?s)wrap\.nrrd.*{bad}.*{kind}"):
            read(path)


def test_ascii_fraction_in_an_integer_type_is_named(tmp_path):
    path = _ascii_nrrd(tmp_path / "frac.nrrd", "uchar", "1.7 2 255 5")
    with pytest.raises(InputError, match=r"(?s)frac\.nrrd.*1\.7.*whole.*uchar") as info:
        read_voxels(path)
    assert "truncated" not in str(info.value)


@pytest.mark.parametrize("kind, values", [
    ("uchar", "0 1 254 255"),
    ("short", "-32768 32767 0 -1"),
    ("int", "-2147483648 2147483647 16777217 5"),
    ("uint", "0 4294967295\n16777217 5"),
    ("int64", "9007199254740993 -9223372036854775808 9223372036854775807 5"),
    ("float", "1.7 -2.5 1e30 5"),
])
def test_ascii_values_in_range_read_as_simpleitk(tmp_path, kind, values):
    sitk = pytest.importorskip("SimpleITK")
    path = _ascii_nrrd(tmp_path / "ok.nrrd", kind, values)
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    voxels, _ = read_voxels(path)
    np.testing.assert_array_equal(voxels.reshape(reference.shape), reference)
