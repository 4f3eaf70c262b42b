"""NIfTI-1 voxels read by NumPy (one gzip pass) equal SimpleITK's reading of the same file, bit for bit.

Files are written byte by byte here (every datatype, both byte orders, rescale slopes, extensions,
multi-member gzip), so the reader is checked against ITK itself, not against our own writer.
"""

from __future__ import annotations

import gzip
import struct
import warnings

import numpy as np
import pytest

from io_test_helpers import ExecuteCounter, use_deflate

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image

_CODES = {"u1": 2, "i2": 4, "i4": 8, "f4": 16, "f8": 64, "i1": 256, "u2": 512, "u4": 768, "i8": 1024, "u8": 1280}


def nifti1_bytes(array: np.ndarray, endian: str = "<", slope: float = 1.0, intercept: float = 0.0,
                 extension: bytes = b"", magic: bytes = b"n+1", spacing=(0.8, 0.9, 2.5),
                 vox_offset: float = 0.0) -> bytes:
    """A single-file NIfTI-1 image: qform code 1 with an oblique quaternion, voxels after ``extension``.

    Args:
        array: (K, J, I) or (J, I) voxels; stored in ``endian`` byte order with the matching datatype.
        extension: raw bytes between the 352-byte header block and the voxels (vox_offset grows).
        magic: 3 bytes plus a NUL, or 4 bytes as given.
        vox_offset: written instead of 352 + len(extension) when not 0 (a corrupt header).
    """
    shape = array.shape[::-1]
    header = bytearray(348)
    struct.pack_into(endian + "i", header, 0, 348)
    struct.pack_into(endian + "8h", header, 40, len(shape), *shape, *([1] * (7 - len(shape))))
    struct.pack_into(endian + "hh", header, 70, _CODES[array.dtype.str[1:]], array.dtype.itemsize * 8)
    struct.pack_into(endian + "8f", header, 76, 1.0, *spacing, 1.0, 1.0, 1.0, 1.0)
    struct.pack_into(endian + "f", header, 108, float(vox_offset or 352 + len(extension)))
    struct.pack_into(endian + "ff", header, 112, slope, intercept)
    struct.pack_into(endian + "hh", header, 252, 1, 0)
    struct.pack_into(endian + "3f", header, 256, 0.1, -0.05, 0.2)  # quatern b, c, d: an oblique rotation
    struct.pack_into(endian + "3f", header, 268, -10.5, 20.25, 30.0)
    header[344:348] = magic if len(magic) == 4 else magic + b"\0"
    extender = b"\1\0\0\0" if extension else b"\0\0\0\0"
    return bytes(header) + extender + extension + array.astype(array.dtype.newbyteorder(endian)).tobytes()


def _values(dtype: str) -> np.ndarray:
    """(3, 5, 7) values spanning the type's range (integers) or six decades (floats), fixed seed."""
    rng = np.random.default_rng(7)
    if dtype[0] in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=(3, 5, 7), dtype=dtype, endpoint=True)
    return (rng.standard_normal((3, 5, 7)) * 1e6).astype(dtype)


def _itk(path):
    import SimpleITK as sitk

    from SDSegLogic.io._sitk import geometry_from_sitk

    image = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(image).astype(np.float32), geometry_from_sitk(image)


@pytest.fixture(params=["zlib-ng", "zlib"])
def deflate(request):
    """Each test runs with zlib-ng's gzip decoder (the default when installed) and with the standard one."""
    restore = use_deflate(request.param)
    yield request.param
    restore()


@pytest.mark.parametrize("dtype", list(_CODES))
@pytest.mark.parametrize("slope,intercept", [(1.0, 0.0), (0.0, 5.0), (float("nan"), 0.0), (1.0, -1024.0),
                                             (0.3711, -1024.123), (-0.7, 1e5)])
def test_fast_path_equals_simpleitk(tmp_path, monkeypatch, deflate, dtype, slope, intercept):
    array = _values(dtype)
    counter = ExecuteCounter(monkeypatch)
    for endian in "<>":
        plain = tmp_path / f"{endian == '>'}.nii"
        plain.write_bytes(nifti1_bytes(array, endian, slope, intercept))
        packed = tmp_path / f"{endian == '>'}.nii.gz"
        packed.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
        expected, geometry = _itk(plain)
        for path in (plain, packed):
            before = counter.calls
            data = read_image(path)
            assert counter.calls == before, f"{path.name}: read by SimpleITK, not by the NumPy path"
            np.testing.assert_array_equal(data.array, expected, err_msg=f"{path.name} {dtype} {slope} {intercept}")
            assert data.geometry.array_shape == geometry.array_shape
            geometry.require_same(data.geometry, spacing_rtol=0, direction_atol=0, origin_atol=0)
            assert data.array.flags.writeable and data.array.dtype == np.float32


def test_extension_multi_member_gzip_and_two_d(tmp_path, monkeypatch, deflate):
    """An extension before the voxels, a stream of two gzip members, and a 2-D image on an oblique plane
    (ITK's 2x2 direction of that plane is sheared: the plane is placed from the qform instead)."""
    counter = ExecuteCounter(monkeypatch)
    volume = _values("i2")
    raw = nifti1_bytes(volume, extension=b"\x20\0\0\0\x04\0\0\0" + b"x" * 24)  # one 32-byte extension
    (tmp_path / "ext.nii").write_bytes(raw)
    half = len(raw) // 2
    (tmp_path / "members.nii.gz").write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    plane = volume[0]
    (tmp_path / "plane.nii.gz").write_bytes(gzip.compress(nifti1_bytes(plane)))
    for name in ("ext.nii", "members.nii.gz"):
        np.testing.assert_array_equal(read_image(tmp_path / name).array, volume.astype(np.float32))
    data = read_image(tmp_path / "plane.nii.gz")
    assert data.metadata["is_2d"] and np.array_equal(data.array[0], plane)
    assert counter.calls == 0
    _, volume_geometry = _itk(tmp_path / "ext.nii")  # the same oblique qform on a 3-D grid: the same plane
    np.testing.assert_allclose(data.geometry.direction_matrix[:, :2], volume_geometry.direction_matrix[:, :2],
                               atol=1e-6)
    np.testing.assert_allclose(data.geometry.origin, volume_geometry.origin, atol=1e-5)
    np.testing.assert_allclose(data.geometry.spacing[:2], volume_geometry.spacing[:2], rtol=1e-6)


def test_other_layouts_still_go_to_simpleitk(tmp_path, monkeypatch):
    """A 4-D series and an RGB volume are left to ITK: the frame and colour handling are unchanged."""
    import SimpleITK as sitk

    volumes = [sitk.GetImageFromArray(np.full((3, 4, 5), v, np.int16)) for v in (1, 2)]
    sitk.WriteImage(sitk.JoinSeries(volumes), str(tmp_path / "t.nii.gz"))
    rgb = np.arange(3 * 4 * 5 * 3, dtype=np.uint8).reshape(3, 4, 5, 3)
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(tmp_path / "rgb.nii.gz"))
    counter = ExecuteCounter(monkeypatch)
    assert np.all(read_image(tmp_path / "t.nii.gz", frame=1).array == 2)
    assert counter.calls == 1
    data = read_image(tmp_path / "rgb.nii.gz")
    assert data.is_rgb and np.array_equal(data.array, rgb) and counter.calls == 2


def test_truncated_and_corrupt_streams_are_refused_by_name(tmp_path, deflate):
    raw = nifti1_bytes(_values("f4"))
    packed = gzip.compress(raw)
    cases = {
        "short.nii": raw[:-10],
        "short-data.nii.gz": gzip.compress(raw[:-10]),  # a complete gzip stream of too few bytes
        "cut.nii.gz": packed[:len(packed) // 2],  # the stream itself ends early
        "crc.nii.gz": packed[:-8] + bytes(b ^ 0xFF for b in packed[-8:-4]) + packed[-4:],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError, match="truncated|corrupt") as info:
            read_image(tmp_path / name)
        assert name in str(info.value)
    with pytest.raises(InputError, match=r"truncated \(762 of 772 bytes"):
        read_image(tmp_path / "short-data.nii.gz")


def _without_transforms(raw: bytes) -> bytes:
    """qform_code and sform_code set to 0 (with a transform, ITK's Analyze reading contradicts the header)."""
    patched = bytearray(raw)
    struct.pack_into("<hh", patched, 252, 0, 0)
    return bytes(patched)


def test_what_itk_does_to_odd_headers_is_what_the_reader_does(tmp_path, deflate):
    """Cases a differential fuzzer found (each compared with SimpleITK's own reading of the file): non-finite
    floats (the NIfTI library stores 0), slopes and intercepts within epsilon of ITK's thresholds, a magic
    without its NUL (ITK reads Analyze: no rescale), negative voxel sizes (ITK flips the axis), and a rescale
    that overflows (inf, without NumPy warnings in the metadata)."""
    floats = np.array([[[0.0, 1.5, np.nan, np.inf, -np.inf, 2.0]]], dtype=np.float32)
    small = np.array([[[0, 1, 100, -5]]], dtype=np.int16)
    cases = {
        "nonfinite.nii": nifti1_bytes(floats),
        "nonfinite64.nii": nifti1_bytes(floats.astype(np.float64), slope=2.0, intercept=1.0),
        "tiny-slope.nii": nifti1_bytes(floats + 3, slope=1e-20),
        "tiny-slope-int.nii": nifti1_bytes(small, slope=1e-20, intercept=7.0),
        "tiny-intercept.nii": nifti1_bytes(np.zeros((1, 1, 3), np.float32), intercept=1e-20),
        "near-one-slope.nii": nifti1_bytes(small, slope=1.0000001),
        "analyze-magic.nii": _without_transforms(nifti1_bytes(np.array([[[1.0, 2.0]]], np.float32), slope=2.0,
                                                              intercept=-1.0, magic=b"n+1 ")),
        "negative-pixdim.nii": nifti1_bytes(small, spacing=(-0.8, 0.9, 2.5)),
        "overflow.nii": nifti1_bytes(small, slope=3.4e38),
    }
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
        (tmp_path / (name + ".gz")).write_bytes(gzip.compress(raw))
        expected, geometry = _itk(tmp_path / name)
        for path in (tmp_path / name, tmp_path / (name + ".gz")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the analyze-magic file warns about its missing transform
                data = read_image(path)
            np.testing.assert_array_equal(data.array, expected, err_msg=path.name)
            geometry.require_same(data.geometry, spacing_rtol=0, direction_atol=0, origin_atol=0)
            assert not any("encountered" in w for w in data.metadata["warnings"]), data.metadata["warnings"]


def test_corrupt_offsets_are_input_errors_without_huge_allocations(tmp_path, deflate):
    small = np.array([[[0, 1, 100, -5]]], dtype=np.int16)
    for offset in (1e12, 1e20, float("inf"), float("nan")):
        raw = nifti1_bytes(small, vox_offset=offset)
        for name, content in (("x.nii", raw), ("x.nii.gz", gzip.compress(raw))):
            (tmp_path / name).write_bytes(content)
            with pytest.raises(InputError, match=r"truncated|invalid NIfTI vox_offset") as info:
                read_image(tmp_path / name)
            assert name in str(info.value)

