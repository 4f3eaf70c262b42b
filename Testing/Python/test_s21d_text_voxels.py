"""Text voxel data (ASCII NRRD, MetaImage ``BinaryData = False``) follows one rule with one wording.

Before: MetaImage text ``0x10`` or ``1,5`` was read by MetaIO as two values, so every later voxel shifted
(``1 0x10 2 3`` read as ``1 0 10 2``); a MET_LONG_LONG ``9007199254740993.0`` read as ...992; an ASCII
``int64`` NRRD beyond its range saturated to the maximum; ``1e2`` in an integer NRRD was refused as
"truncated or corrupt"; and a NaN in an integer type was worded differently by the two readers.
"""

from __future__ import annotations

import re
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


def _text_mha(path: Path, element: str, values: str) -> Path:
    """A 2 x 2 x 1 MetaImage of ``element`` type whose text voxel data are ``values``."""
    path.write_text("ObjectType = Image\nNDims = 3\nBinaryData = False\nDimSize = 2 2 1\nElementSpacing = 1 1 1\n"
                    f"ElementType = {element}\nElementDataFile = LOCAL\n{values}\n")
    return path


@pytest.mark.parametrize("element", ["MET_UCHAR", "MET_FLOAT"])
@pytest.mark.parametrize("token", ["0x10", "1,5"])
def test_metaimage_token_that_would_shift_the_voxels_is_refused(tmp_path, element, token):
    path = _text_mha(tmp_path / "shift.mha", element, f"1 {token} 2 3")
    for read in (read_image, read_voxels):
        with pytest.raises(InputError, match=rf"(?s)shift\.mha.*{re.escape(token)}.*#2.*decimal.*{element}"):
            read(path)


def test_metaimage_64bit_value_written_with_a_fraction_part_is_refused(tmp_path):
    path = _text_mha(tmp_path / "big.mha", "MET_LONG_LONG", "1 9007199254740993.0 2 3")
    with pytest.raises(InputError, match=r"(?s)big\.mha.*9007199254740993\.0.*double"):
        read_voxels(path)


def test_ascii_int64_nrrd_beyond_its_range_is_refused(tmp_path):
    path = _ascii_nrrd(tmp_path / "big.nrrd", "int64", "1 9223372036854775808 2 3")
    with pytest.raises(InputError, match=r"(?s)big\.nrrd.*9223372036854775808.*range.*int64"):
        read_voxels(path)


@pytest.mark.parametrize("token", ["1e2", "2.0", "0x10"])
def test_ascii_nrrd_integer_spelled_otherwise_is_named_not_called_truncated(tmp_path, token):
    path = _ascii_nrrd(tmp_path / "spell.nrrd", "uchar", f"1 {token} 2 3")
    with pytest.raises(InputError, match=rf"(?s)spell\.nrrd.*{re.escape(token)}.*#2.*uchar") as info:
        read_voxels(path)
    assert "truncated" not in str(info.value)


@pytest.mark.parametrize("token", ["nan", "-inf"])
def test_nonfinite_value_in_an_integer_type_is_worded_alike(tmp_path, token):
    messages = []
    for path in (_ascii_nrrd(tmp_path / "v.nrrd", "uchar", f"1 {token} 2 3"),
                 _text_mha(tmp_path / "v.mha", "MET_UCHAR", f"1 {token} 2 3")):
        with pytest.raises(InputError) as info:
            read_voxels(path)
        messages.append(str(info.value).split(": ", 1)[1])
    wording = [re.sub(r"'uchar'|ElementType MET_UCHAR|the header's type|ElementType|'float'|MET_FLOAT", "<t>", m)
               for m in messages]
    assert "not a finite number" in wording[0]
    assert wording[0] == wording[1]


@pytest.mark.parametrize("element, values", [
    ("MET_UCHAR", "1 2.0 1e2 3"),
    ("MET_FLOAT", "1.5 -.5 2e3 +4"),
    ("MET_LONG_LONG", "9007199254740992 -2 3.0 4"),
])
def test_metaimage_text_values_read_exactly_still_read_as_simpleitk(tmp_path, element, values):
    sitk = pytest.importorskip("SimpleITK")
    path = _text_mha(tmp_path / "ok.mha", element, values)
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    voxels, _ = read_voxels(path)
    np.testing.assert_array_equal(voxels.reshape(reference.shape), reference)


def test_ascii_float_nrrd_with_nan_still_reads_the_nan(tmp_path):
    """The spelling rule takes ``nan`` and exponents in a float NRRD: each voxel reads as the value it spells."""
    path = _ascii_nrrd(tmp_path / "nan.nrrd", "float", "1 nan 2.5 -3e1")
    voxels, _ = read_voxels(path)
    np.testing.assert_array_equal(np.ravel(voxels), np.array([1.0, np.nan, 2.5, -30.0], np.float32))
