"""Truncated uncompressed MetaImage data is refused with the bytes it holds, not ITK's stale system error.

ITK's refusal read "File cannot be read: ... Reason: No such file or directory" for a file that exists.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image

sitk = pytest.importorskip("SimpleITK")

_HEADER = ("ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\nCompressedData = False\n"
           "{extra}DimSize = 50 40 6\nElementType = MET_SHORT\nElementDataFile = {data}\n")


@pytest.mark.parametrize("layout", ["LOCAL", "data file", "HeaderSize 16", "HeaderSize -1"])
def test_truncated_raw_metaimage_names_the_missing_bytes(tmp_path, layout):
    voxels = (np.arange(6 * 40 * 50).reshape(6, 40, 50) % 1000).astype(np.int16).tobytes()
    extra = {"HeaderSize 16": "HeaderSize = 16\n", "HeaderSize -1": "HeaderSize = -1\n"}.get(layout, "")
    data = (b"J" * 16 if layout == "HeaderSize 16" else b"") + voxels
    if layout == "LOCAL":
        path = tmp_path / "ct.mha"
        path.write_bytes(_HEADER.format(extra=extra, data="LOCAL").encode() + data[:-1000])
    else:
        (tmp_path / "ct.raw").write_bytes(data[:-1000])
        path = tmp_path / "ct.mhd"
        path.write_text(_HEADER.format(extra=extra, data="ct.raw"))
        with pytest.raises(RuntimeError):
            sitk.ReadImage(str(path))  # ITK refuses it too (with a misleading reason)
    with pytest.raises(InputError) as info:
        read_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: the voxel data"), message
    assert "holds 23,000 bytes but the header announces 24,000" in message and "truncated" in message
    assert "No such file" not in message


def test_complete_raw_metaimage_still_reads(tmp_path):
    volume = (np.arange(6 * 40 * 50).reshape(6, 40, 50) % 1000).astype(np.int16)
    (tmp_path / "ct.raw").write_bytes(b"J" * 16 + volume.tobytes())
    (tmp_path / "ct.mhd").write_text(_HEADER.format(extra="HeaderSize = -1\n", data="ct.raw"))
    assert np.array_equal(read_image(tmp_path / "ct.mhd").array, volume)
    (tmp_path / "text.mha").write_text(_HEADER.replace("BinaryData = True", "BinaryData = False")
                                       .format(extra="", data="LOCAL") + " ".join(map(str, volume.ravel())) + "\n")
    assert np.array_equal(read_image(tmp_path / "text.mha").array, volume)  # text data: not counted in bytes
