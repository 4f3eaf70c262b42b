"""Compressed MetaImage is inflated once (the integrity check fills the voxels), with exactly SimpleITK's voxels.

Before, the check inflated the stream and dropped the output, then SimpleITK inflated it again.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image
from SDSegLogic.io._sitk import geometry_from_sitk

from io_test_helpers import ExecuteCounter


def _itk(path):
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(image), geometry_from_sitk(image)


def _write(path, array: np.ndarray, vector: bool = False) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array, isVector=vector)
    image.SetSpacing((0.7, 0.8, 2.5, 1.0)[:image.GetDimension()])
    image.SetOrigin((-3.0, 4.5, 12.0, 0.0)[:image.GetDimension()])
    sitk.WriteImage(image, str(path), useCompression=True)


_RNG = np.random.default_rng(11)


@pytest.mark.parametrize("dtype", ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"])
@pytest.mark.parametrize("suffix", [".mha", ".mhd"])
def test_compressed_metaimage_is_read_once_with_simpleitk_voxels(tmp_path, monkeypatch, dtype, suffix):
    info = np.iinfo(dtype) if dtype[0] in "iu" else None
    volume = (_RNG.integers(info.min, info.max, (4, 5, 6), dtype=dtype, endpoint=True) if info is not None
              else (_RNG.standard_normal((4, 5, 6)) * 1e3).astype(dtype))
    path = tmp_path / f"volume{suffix}"
    _write(path, volume)
    expected, geometry = _itk(path)
    counter = ExecuteCounter(monkeypatch)
    data = read_image(path)
    assert counter.calls == 0, "SimpleITK inflated the voxels a second time"
    np.testing.assert_array_equal(data.array, expected.astype(np.float32))
    assert data.metadata["original_dtype"] == str(np.dtype(dtype))
    geometry.require_same(data.geometry, spacing_rtol=0, direction_atol=0, origin_atol=0)
    assert data.array.flags.writeable


def test_four_d_colour_and_plane_layouts(tmp_path, monkeypatch):
    frames = _RNG.integers(-1000, 1000, (3, 4, 5, 6)).astype(np.int16)
    colour = _RNG.integers(0, 255, (4, 5, 6, 3)).astype(np.uint8)
    plane = _RNG.integers(0, 4000, (5, 6)).astype(np.uint16)
    _write(tmp_path / "frames.mha", frames)
    _write(tmp_path / "colour.mha", colour, vector=True)
    _write(tmp_path / "plane.mha", plane)
    counter = ExecuteCounter(monkeypatch)
    for k in range(3):
        np.testing.assert_array_equal(read_image(tmp_path / "frames.mha", frame=k).array, frames[k].astype(np.float32))
    data = read_image(tmp_path / "colour.mha")
    assert data.is_rgb and np.array_equal(data.array, colour.astype(np.float32))
    data = read_image(tmp_path / "plane.mha")
    assert data.metadata["is_2d"] and np.array_equal(data.array[0], plane.astype(np.float32))
    assert counter.calls == 0


def _header(data: bytes, *lines: str, msb: bool = False, sized: bool = True) -> bytes:
    """A compressed MET_SHORT 6 x 5 x 4 MetaImage with ``data`` (zlib) attached."""
    fields = ["ObjectType = Image", "NDims = 3", "BinaryData = True", f"BinaryDataByteOrderMSB = {msb}",
              "CompressedData = True", *([f"CompressedDataSize = {len(data)}"] if sized else []), *lines,
              "ElementSpacing = 1 1 2", "DimSize = 6 5 4", "ElementType = MET_SHORT", "ElementDataFile = LOCAL"]
    return ("\n".join(fields) + "\n").encode() + data


def test_big_endian_data_reads_like_simpleitk(tmp_path, monkeypatch):
    volume = _RNG.integers(-30000, 30000, (4, 5, 6)).astype(">i2")
    path = tmp_path / "msb.mha"
    path.write_bytes(_header(zlib.compress(volume.tobytes()), msb=True))
    expected, _ = _itk(path)
    counter = ExecuteCounter(monkeypatch)
    data = read_image(path)
    assert counter.calls == 0
    np.testing.assert_array_equal(data.array, expected.astype(np.float32))
    np.testing.assert_array_equal(data.array, volume.astype(np.float32))


def test_damaged_streams_are_still_refused_on_the_single_pass(tmp_path):
    volume = _RNG.integers(-1000, 1000, (20, 30, 40)).astype(np.int16)
    _write(tmp_path / "ct.mha", volume)
    raw = (tmp_path / "ct.mha").read_bytes()
    start = raw.index(b"ElementDataFile = LOCAL\n") + len(b"ElementDataFile = LOCAL\n")
    flipped = bytearray(raw)
    flipped[start + (len(raw) - start) // 2] ^= 0xFF
    (tmp_path / "flipped.mha").write_bytes(bytes(flipped))
    (tmp_path / "cut.mha").write_bytes(raw[:start + (len(raw) - start) // 2])
    with pytest.raises(InputError, match="flipped.mha.*compressed voxel data"):
        read_image(tmp_path / "flipped.mha")
    with pytest.raises(InputError, match="cut.mha.*compressed voxel data.*(cut short|truncated)"):
        read_image(tmp_path / "cut.mha")


def test_header_with_header_size_goes_to_simpleitk_after_the_check(tmp_path, monkeypatch):
    """``HeaderSize`` moves the data in some readers: such files keep the separate check and ITK's read."""
    volume = _RNG.integers(-1000, 1000, (4, 5, 6)).astype(np.int16)
    path = tmp_path / "sized.mha"
    path.write_bytes(_header(zlib.compress(volume.tobytes()), "HeaderSize = 0"))
    expected, _ = _itk(path)
    counter = ExecuteCounter(monkeypatch)
    np.testing.assert_array_equal(read_image(path).array, expected.astype(np.float32))
    np.testing.assert_array_equal(expected, volume)
    assert counter.calls == 1
    path.write_bytes(_header(zlib.compress(volume.tobytes())[:-20], "HeaderSize = 0"))
    with pytest.raises(InputError, match="sized.mha.*compressed voxel data"):
        read_image(path)


def test_local_data_without_compressed_data_size_is_not_read_as_garbage(tmp_path):
    """ITK needs CompressedDataSize for LOCAL data: without it, it prints "Uncompress failed" and returns garbage.

    The single pass reads the stream to its end itself; where ITK would read the voxels, the file is refused.
    """
    volume = (_RNG.integers(-3, 3, (4, 5, 6)) * 100).astype(np.int16)
    path = tmp_path / "unsized.mha"
    path.write_bytes(_header(zlib.compress(volume.tobytes()), sized=False))
    np.testing.assert_array_equal(read_image(path).array, volume.astype(np.float32))
    path.write_bytes(_header(zlib.compress(volume.tobytes()), "HeaderSize = 0", sized=False))
    with pytest.raises(InputError, match=r"unsized.mha.*no CompressedDataSize.*garbage"):
        read_image(path)
