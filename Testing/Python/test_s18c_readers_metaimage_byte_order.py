"""A compressed MetaImage is read in the byte order ITK's MetaIO (and so 3D Slicer) reads, whatever its header says.

The fast NumPy path (:mod:`SDSegLogic.io._metaimage_voxels`) decodes compressed data itself; MetaIO's rules are
that ``BinaryDataByteOrderMSB`` decides where present (even empty), else ``ElementByteOrderMSB``, and that a
value is true when it starts with ``T``, ``t`` or ``1``. Each file is read by SimpleITK as the reference.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from SDSegLogic.io.readers import read_image

sitk = pytest.importorskip("SimpleITK")

STORED = np.array([1, 256, 258, 3, 40000, 7], dtype=">u2")  # big-endian on disk: MSB reads 1, 256, ...


def write_mha(path: Path, order_lines: Sequence[str]) -> Path:
    """STORED (1 x 2 x 3 voxels) zlib-compressed, with the given byte-order header lines."""
    data = zlib.compress(STORED.tobytes())
    header = ("ObjectType = Image\nNDims = 3\nBinaryData = True\n" + "".join(f"{line}\n" for line in order_lines)
              + f"CompressedData = True\nCompressedDataSize = {len(data)}\nDimSize = 3 2 1\n"
              "ElementType = MET_USHORT\nElementDataFile = LOCAL\n")
    path.write_bytes(header.encode("ascii") + data)
    return path


@pytest.mark.parametrize("order_lines", [
    ["BinaryDataByteOrderMSB = T"],  # before: LSB (only "true"/"1" counted)
    ["BinaryDataByteOrderMSB = tru"],
    ["BinaryDataByteOrderMSB = ", "ElementByteOrderMSB = True"],  # before: MSB (an empty field was skipped)
    ["ElementByteOrderMSB = True", "BinaryDataByteOrderMSB ="],
    ["ElementByteOrderMSB = T"],
    ["BinaryDataByteOrderMSB = True", "ElementByteOrderMSB = False"],
    ["ElementByteOrderMSB = True", "BinaryDataByteOrderMSB = False"],
    ["ElementByteOrderMSB = yes"],
    [],
])
def test_byte_order_agrees_with_metaio(tmp_path, order_lines):
    path = write_mha(tmp_path / "image.mha", order_lines)
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    assert sorted({int(reference.ravel()[0]), int(reference.ravel()[1])}) in ([1, 256], [256, 1])  # a real order
    np.testing.assert_array_equal(read_image(path).array, reference.astype(np.float32))
