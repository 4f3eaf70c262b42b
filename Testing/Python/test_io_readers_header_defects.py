"""Audit of the image readers against SimpleITK/pynrrd on small crafted files (wrong voxels, geometry, messages)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from SDSegLogic.errors import GeometryError, InputError
from SDSegLogic.io import read_image


def _sitk_ijk_to_lps(image) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = np.asarray(image.GetDirection()).reshape(3, 3) * np.asarray(image.GetSpacing())
    m[:3, 3] = image.GetOrigin()
    return m


def _volume(shape=(4, 5, 6), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-500, 500, shape).astype(np.int16)


# ---------------------------------------------------------------------------------------------- NIfTI
def test_nii_gz_beside_a_nii_of_the_same_name_reads_its_own_voxels(tmp_path):
    """ITK, asked for scan.nii.gz, takes the voxels from scan.nii when it exists (header from one, data from the other)."""
    import SimpleITK as sitk

    frames = _volume((2, 3, 4, 5))
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(f) for f in frames]), str(tmp_path / "cine.nii.gz"))
    other = np.full((2, 3, 4, 5), -7, dtype=np.int16)  # an older, different copy beside it
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(f) for f in other]), str(tmp_path / "cine.nii"))
    for frame in (0, 1):
        data = read_image(tmp_path / "cine.nii.gz", frame=frame)
        assert np.array_equal(data.array, frames[frame].astype(np.float32))
    assert np.array_equal(read_image(tmp_path / "cine.nii", frame=1).array, other[1].astype(np.float32))


def _nifti_with(path, volume, **fields):
    """Write ``volume`` as NIfTI with SimpleITK, then overwrite header fields (little-endian offsets)."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(volume)
    image.SetSpacing((0.7, 0.9, 2.5))
    image.SetOrigin((10.0, -20.0, 30.0))
    sitk.WriteImage(image, str(path))
    raw = bytearray(path.read_bytes())
    layout = {"pixdim": (76, "8f"), "srow": (280, "12f"), "qoffset": (268, "3f"), "qform_code": (252, "h"),
              "sform_code": (254, "h")}
    for key, (offset, fmt) in layout.items():
        if key in fields:
            current = list(struct.unpack_from("<" + fmt, raw, offset))
            for index, value in fields[key].items() if isinstance(fields[key], dict) else {0: fields[key]}.items():
                current[index] = value
            struct.pack_into("<" + fmt, raw, offset, *current)
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("fields", [
    {"pixdim": {1: 0.0}, "sform_code": 0},             # qform only: ITK silently makes the spacing 1 mm
    {"pixdim": {2: float("nan")}, "sform_code": 0},
    {"pixdim": {2: float("nan")}},                     # sform fine, but ITK takes the spacing from pixdim
    {"srow": {5: float("nan")}},                       # a NaN inside the sform
    {"qoffset": {0: float("nan")}, "sform_code": 0},
], ids=["zero-pixdim", "nan-pixdim-qform", "nan-pixdim-sform", "nan-srow", "nan-qoffset"])
def test_nifti_with_zero_or_non_finite_transform_fields_is_refused_naming_the_file(tmp_path, fields):
    path = _nifti_with(tmp_path / "bad header.nii", _volume(), **fields)
    with pytest.raises(GeometryError) as caught:
        read_image(path)
    message = str(caught.value)
    assert str(path) in message and ("pixdim" in message or "sform" in message or "qform" in message)
    assert "fix the header" in message.lower()


# ---------------------------------------------------------------------------------------------- MetaImage
def _compressed_mha(path, volume):
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(volume), str(path), useCompression=True)
    raw = path.read_bytes()
    return raw, raw.index(b"ElementDataFile = LOCAL\n") + len(b"ElementDataFile = LOCAL\n")


@pytest.mark.parametrize("where", [0.01, 0.5, 0.95])
def test_corrupt_compressed_metaimage_is_refused_not_read_as_garbage(tmp_path, where):
    volume = _volume((20, 30, 40), seed=3) // 10
    raw, start = _compressed_mha(tmp_path / "ct.mha", volume)
    assert np.array_equal(read_image(tmp_path / "ct.mha").array, volume.astype(np.float32))
    damaged = bytearray(raw)
    damaged[start + int((len(raw) - start) * where)] ^= 0xFF  # one flipped byte in the zlib stream
    (tmp_path / "damaged.mha").write_bytes(bytes(damaged))
    with pytest.raises(InputError, match="damaged.mha.*compressed voxel data"):
        read_image(tmp_path / "damaged.mha")


def test_truncated_compressed_metaimage_data_file_is_refused(tmp_path):
    import SimpleITK as sitk

    volume = _volume((20, 30, 40), seed=4) // 10
    sitk.WriteImage(sitk.GetImageFromArray(volume), str(tmp_path / "ct.mhd"), useCompression=True)
    data = tmp_path / "ct.zraw"
    assert data.is_file()
    data.write_bytes(data.read_bytes()[: data.stat().st_size * 2 // 3])
    with pytest.raises(InputError, match="ct.zraw"):
        read_image(tmp_path / "ct.mhd")


def _mha(path, lines, data: bytes):
    path.write_bytes(("\n".join(lines) + "\nElementDataFile = LOCAL\n").encode() + data)
    return path


_HEADER = ["ObjectType = Image", "NDims = 3", "BinaryData = True", "BinaryDataByteOrderMSB = False",
           "DimSize = 6 5 4", "ElementType = MET_SHORT"]


def test_metaimage_zero_spacing_or_singular_direction_is_a_geometry_error_not_truncation(tmp_path):
    volume = _volume()
    zero = _mha(tmp_path / "zero.mha", _HEADER + ["ElementSpacing = 0 0.7 2"], volume.tobytes())
    with pytest.raises(GeometryError, match="zero.mha.*spacing") as caught:
        read_image(zero)
    assert "truncated" not in str(caught.value)
    flat = _mha(tmp_path / "flat.mha", _HEADER + ["TransformMatrix = 1 0 0 1 0 0 0 0 1"], volume.tobytes())
    with pytest.raises(GeometryError, match="flat.mha.*not a rotation") as caught:
        read_image(flat)
    assert "determinant" in str(caught.value)


def test_four_d_metaimage_with_a_single_frame_reads_as_its_volume(tmp_path):
    volume = _volume()
    lines = [ln.replace("NDims = 3", "NDims = 4").replace("DimSize = 6 5 4", "DimSize = 6 5 4 1") for ln in _HEADER]
    data = read_image(_mha(tmp_path / "one-frame.mha", lines, volume.tobytes()))
    assert np.array_equal(data.array, volume.astype(np.float32))


# ---------------------------------------------------------------------------------------------- NRRD
def test_four_d_nrrd_without_kinds_or_space_reads_its_frames(tmp_path):
    """pynrrd writes a 4-D array with neither kinds nor space directions; ITK reads it as 4-D."""
    import nrrd

    frames = _volume((6, 5, 4, 3))  # Fortran order: x, y, z, t
    nrrd.write(str(tmp_path / "cine.nrrd"), frames)
    with pytest.raises(InputError, match="cine.nrrd: 4-D image with 3 frames"):
        read_image(tmp_path / "cine.nrrd")
    with pytest.warns(UserWarning, match="no 'space'"):
        data = read_image(tmp_path / "cine.nrrd", frame=2)
    assert np.array_equal(data.array, frames[..., 2].T.astype(np.float32)) and data.geometry.shape == (6, 5, 4)


@pytest.mark.parametrize("space", ["left-anterior-superior", "LAS"])
def test_las_nrrd_is_read_like_simpleitk(tmp_path, space):
    import nrrd
    import SimpleITK as sitk

    volume = _volume((6, 5, 4))  # x, y, z
    directions = np.array([[0.5, 0.1, 0.0], [-0.16, 0.8, 0.0], [0.0, 0.0, 2.0]])
    path = tmp_path / "las.nrrd"
    nrrd.write(str(path), volume, {"space": space, "space directions": directions,
                                   "space origin": np.array([1.0, 2.0, 3.0])})
    ours, theirs = read_image(path), sitk.ReadImage(str(path))
    assert np.array_equal(ours.array, sitk.GetArrayFromImage(theirs).astype(np.float32))
    np.testing.assert_allclose(ours.geometry.ijk_to_lps(), _sitk_ijk_to_lps(theirs), atol=1e-9)
    assert ours.geometry.origin == (1.0, -2.0, 3.0)


def test_unsupported_nrrd_space_message_does_not_misstate_what_is_supported(tmp_path):
    import nrrd

    nrrd.write(str(tmp_path / "scanner.nrrd"), _volume((6, 5, 4)),
               {"space": "scanner-xyz", "space directions": np.eye(3)})
    with pytest.raises(InputError, match="scanner-xyz") as caught:
        read_image(tmp_path / "scanner.nrrd")
    assert "left-anterior-superior" in str(caught.value)


def test_negative_nrrd_spacings_flip_the_axis_like_simpleitk(tmp_path):
    import nrrd
    import SimpleITK as sitk

    path = tmp_path / "negative.nrrd"
    nrrd.write(str(path), _volume((6, 5, 4)), {"spacings": [-1.5, 1.0, 2.0]})
    with pytest.warns(UserWarning, match="no 'space'"):
        ours = read_image(path)
    theirs = sitk.ReadImage(str(path))
    assert np.array_equal(ours.array, sitk.GetArrayFromImage(theirs).astype(np.float32))
    np.testing.assert_allclose(ours.geometry.ijk_to_lps(), _sitk_ijk_to_lps(theirs), atol=1e-9)


def test_zero_nrrd_spacing_is_refused_naming_the_file(tmp_path):
    import nrrd

    nrrd.write(str(tmp_path / "zero.nrrd"), _volume((6, 5, 4)), {"spacings": [0.0, 1.0, 1.0]})
    with pytest.raises(GeometryError, match="zero.nrrd"):
        read_image(tmp_path / "zero.nrrd")


# ---------------------------------------------------------------------------------------------- photos
def test_gray_picture_with_opaque_alpha_stays_gray(tmp_path):
    from PIL import Image

    gray = np.random.default_rng(5).integers(0, 255, (9, 13)).astype(np.uint8)
    Image.fromarray(np.stack([gray, np.full_like(gray, 255)], axis=-1), "LA").save(tmp_path / "gray.png")
    with pytest.warns(UserWarning, match="alpha"):
        data = read_image(tmp_path / "gray.png")
    assert not data.is_rgb and data.array.shape == (1, 9, 13)
    assert np.array_equal(data.array[0], gray.astype(np.float32))
    assert any("alpha" in w for w in data.metadata["warnings"])
    Image.fromarray(np.stack([gray, gray], axis=-1), "LA").save(tmp_path / "see-through.png")
    with pytest.raises(InputError, match="see-through.png.*transparent"):
        read_image(tmp_path / "see-through.png")


def test_multi_member_gzip_nrrd_is_read_like_simpleitk(tmp_path):
    """``cat a.gz b.gz`` and bgzip write several gzip members; ITK (and 3D Slicer) read them as one stream."""
    import gzip

    import SimpleITK as sitk

    volume = _volume((4, 5, 6))
    header = (b"NRRD0004\ntype: short\ndimension: 3\nsizes: 6 5 4\nspace: left-posterior-superior\n"
              b"space directions: (0.5,0,0) (0,0.5,0) (0,0,2)\nendian: little\nencoding: gzip\n\n")
    raw = volume.tobytes()
    path = tmp_path / "members.nrrd"
    path.write_bytes(header + gzip.compress(raw[:7]) + gzip.compress(b"") + gzip.compress(raw[7:]))
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(path))), volume)
    assert np.array_equal(read_image(path).array, volume.astype(np.float32))
    path.write_bytes(header + gzip.compress(raw[:100]))
    with pytest.raises(InputError, match="truncated"):
        read_image(path)


def test_dicom_series_with_a_slice_of_another_size_names_it(tmp_path):
    import pydicom

    from io_test_helpers import geometry_for, marker_array, write_dicom_series

    names = write_dicom_series(tmp_path, marker_array()[:4], geometry_for(np.eye(3), shape_kji=(4, 10, 12)))
    odd = pydicom.dcmread(names[-1])
    odd.Rows = 5
    odd.PixelData = np.zeros((5, 12), dtype=np.int16).tobytes()
    odd.save_as(names[-1])
    with pytest.raises(InputError, match=r"differ in size \(slice_003.dcm has 5 x 12 pixels"):
        read_image(tmp_path)
