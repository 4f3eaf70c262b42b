"""Edge-case table rows about files on disk (reliability-anchors.md section 1): rows 12-14, 16, 24.

Empty, truncated, corrupt and mislabelled files, sizes that exceed memory or overflow a count,
and detached data files outside the header's folder. The other rows are in test_edge_cases.py.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from io_test_helpers import geometry_for, marker_array, rotation, sitk_image

from SDSegLogic.errors import GeometryError, InputError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io import read_image


def test_row12_empty_file(tmp_path):
    (tmp_path / "empty.nrrd").write_bytes(b"")
    with pytest.raises(InputError, match="empty \\(0 bytes\\)"):
        read_image(tmp_path / "empty.nrrd")
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "missing.nii.gz")


def _valid_files(tmp_path):
    import SimpleITK as sitk
    from PIL import Image

    array, g = marker_array().astype(np.int16), geometry_for(rotation(20, 0))
    paths = []
    for name in ("v.nrrd", "v.nii", "v.nii.gz", "v.mha"):
        sitk.WriteImage(sitk_image(array, g), str(tmp_path / name), useCompression=name == "v.nrrd")
        paths.append(tmp_path / name)
    Image.fromarray(np.arange(600, dtype=np.uint8).reshape(20, 30)).save(tmp_path / "v.png")
    return paths + [tmp_path / "v.png"]


def test_row13_truncated_and_corrupted_files_raise_input_errors_only(tmp_path):
    """Every mutated file either raises InputError/GeometryError or reads with a valid geometry;
    a truncated file is never returned with partial voxels."""
    rejected = 0
    for path in _valid_files(tmp_path):
        original = read_image(path).array
        raw = path.read_bytes()
        plain = gzip.decompress(raw) if path.name.endswith(".gz") else raw
        header_end = plain.find(b"\n\n") + 2 if path.suffix == ".nrrd" else min(352, len(plain))
        variants = [("cut", raw[:n]) for n in sorted({1, header_end - 1, len(raw) // 2, len(raw) - 1}) if 0 < n < len(raw)]
        for offset in sorted({o for o in (0, 5, 20, 40, 70, 112, header_end - 3) if o < len(raw)}):
            flipped = bytearray(raw)
            flipped[offset] ^= 0xFF
            variants.append(("flip", bytes(flipped)))
        for n, (kind, content) in enumerate(variants):
            mutated = tmp_path / f"m{n}_{path.name}"
            mutated.write_bytes(content)
            try:
                data = read_image(mutated, max_bytes=10 ** 8)
            except (InputError, GeometryError) as exc:
                assert mutated.name in str(exc)
                rejected += 1
            else:
                assert isinstance(data.geometry, ImageGeometry) and data.array.shape[:3] == data.geometry.array_shape
                if kind == "cut":  # only a cut inside a trailing checksum may still give the full image
                    assert np.array_equal(data.array, original), f"partial voxels returned for {mutated.name}"
    assert rejected >= 30


def test_row13_truncated_raw_nrrd_with_byte_skip_minus_one(tmp_path):
    """``byte skip: -1`` takes the file's last bytes as data: a cut file must not shift header bytes in."""
    data = np.arange(4 * 8 * 8, dtype=np.int16).reshape(4, 8, 8)
    header = (b"NRRD0004\ntype: short\ndimension: 3\nsizes: 8 8 4\nendian: little\nencoding: raw\nbyte skip: -1\n"
              b"space: left-posterior-superior\nspace directions: (1,0,0) (0,1,0) (0,0,1)\nspace origin: (0,0,0)\n\n")
    (tmp_path / "full.nrrd").write_bytes(header + data.tobytes())
    assert np.array_equal(read_image(tmp_path / "full.nrrd").array, data)
    for cut in (2, 100):
        path = tmp_path / f"cut{cut}.nrrd"
        path.write_bytes(header + data.tobytes()[:-cut])
        with pytest.raises(InputError, match=rf"cut{cut}.nrrd: the raw NRRD data holds {512 - cut} bytes but the "
                                             r"header announces 512 .*byte skip -1.*truncated"):
            read_image(path)


def _nifti2_bytes() -> bytes:
    """A minimal NIfTI-2 file (540-byte header, magic at byte 4): int16 2 x 3 x 4, sform of 1.5/2/3 mm."""
    import struct

    header = bytearray(540)
    struct.pack_into("<i8s2h8q", header, 0, 540, b"n+2\0\r\n\x1a\n", 4, 16, 3, 4, 3, 2, 1, 1, 1, 1)
    struct.pack_into("<8d", header, 104, 1.0, 1.5, 2.0, 3.0, 1.0, 1.0, 1.0, 1.0)
    struct.pack_into("<q2d", header, 168, 544, 1.0, 0.0)
    struct.pack_into("<2i", header, 344, 0, 1)
    struct.pack_into("<12d", header, 400, -1.5, 0, 0, 10, 0, -2, 0, 20, 0, 0, 3, 30)
    return bytes(header) + bytes(4) + np.arange(24, dtype=np.int16).tobytes()


def test_row14_nifti2_is_named_with_the_remedy(tmp_path):
    """NIfTI-2 (magic at byte 4, not 344) is recognised and refused by name, plain or gzipped."""
    (tmp_path / "scan.nii").write_bytes(_nifti2_bytes())
    (tmp_path / "scan.nii.gz").write_bytes(gzip.compress(_nifti2_bytes()))
    for name in ("scan.nii", "scan.nii.gz"):
        with pytest.raises(InputError, match=rf"{name}: a NIfTI-2 file, .*save the image as NIfTI-1"):
            read_image(tmp_path / name)


def test_row14_extension_contradicting_content(tmp_path):
    import SimpleITK as sitk

    sitk.WriteImage(sitk_image(marker_array(), geometry_for(np.eye(3))), str(tmp_path / "x.nii"))
    (tmp_path / "x.nii").rename(tmp_path / "x.nrrd")
    with pytest.raises(InputError, match="extension says nrrd but the content is nifti"):
        read_image(tmp_path / "x.nrrd")
    (tmp_path / "x.nrrd").rename(tmp_path / "x.dat")
    with pytest.raises(InputError, match="unsupported file type '.dat'; its content looks like nifti"):
        read_image(tmp_path / "x.dat")
    (tmp_path / "packed.nii").write_bytes(gzip.compress((tmp_path / "x.dat").read_bytes()))
    with pytest.raises(InputError, match="gzip-compressed NIfTI .* rename it to .nii.gz"):
        read_image(tmp_path / "packed.nii")
    (tmp_path / "plain.nii.gz").write_bytes(gzip.compress(b"not an image at all" * 30))
    with pytest.raises(InputError, match="extension says nifti"):
        read_image(tmp_path / "plain.nii.gz")


def _short_nrrd_header(sizes: str) -> bytes:
    """A raw int16 NRRD header announcing ``sizes`` (the voxels that follow are up to the test)."""
    return (b"NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: " + sizes.encode()
            + b"\nspace directions: (1,0,0) (0,1,0) (0,0,1)\nkinds: domain domain domain\nendian: little\n"
            b"encoding: raw\nspace origin: (0,0,0)\n\n")


def test_row16_huge_volume_is_refused_from_the_header(tmp_path):
    (tmp_path / "huge.nrrd").write_bytes(_short_nrrd_header("1024 1024 4000") + b"\0" * 64)
    with pytest.raises(InputError, match=r"4,194,304,000 values .*15.6 GiB.*budget"):
        read_image(tmp_path / "huge.nrrd")


def test_row16_sizes_whose_product_passes_int64_are_refused(tmp_path):
    """The voxel count is a Python int: 2**32 x 2**32 must not wrap to 0 and slip past the memory check."""
    import struct

    import SimpleITK as sitk

    (tmp_path / "wrap.nrrd").write_bytes(_short_nrrd_header("4294967296 4294967296 1") + b"\0" * 64)
    with pytest.raises(InputError, match=r"wrap.nrrd: the image holds 18,446,744,073,709,551,616 values .*budget"):
        read_image(tmp_path / "wrap.nrrd")
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 4), np.int16)), str(tmp_path / "wrap.nii"))
    raw = bytearray((tmp_path / "wrap.nii").read_bytes())
    struct.pack_into("<8h", raw, 40, 5, 32767, 32767, 32767, 32767, 32767, 1, 1)  # 32767**5 > 2**63
    (tmp_path / "wrap.nii").write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"wrap.nii: the image holds 37,773,167,607,267,111,108,607 values"):
        read_image(tmp_path / "wrap.nii")


def test_row16_picture_claiming_huge_dimensions_is_refused_before_decoding(tmp_path):
    import struct
    import zlib

    from SDSegLogic.io._photo import max_photo_pixels

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)  # 8-bit gray, 400 M pixels, ~100 bytes on disk
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                                        + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    with pytest.raises(InputError, match=rf"bomb.png: .*20,000 x 20,000 pixels .*limit of {max_photo_pixels():,} "
                                         r"pixels.*Downscale or crop"):
        read_image(tmp_path / "bomb.png")


def test_row24_detached_data_outside_the_folder_is_refused(tmp_path):
    (tmp_path / "evil.nhdr").write_text("NRRD0004\ntype: uchar\ndimension: 3\nsizes: 1 1 1\nencoding: raw\n"
                                        "data file: /etc/hostname\n\n")
    with pytest.raises(InputError, match="outside its folder"):
        read_image(tmp_path / "evil.nhdr")
    (tmp_path / "evil.mhd").write_text("ObjectType = Image\nNDims = 3\nDimSize = 1 1 1\nElementType = MET_UCHAR\n"
                                       "ElementDataFile = ../../etc/hostname\n")
    with pytest.raises(InputError, match="outside the header's folder"):
        read_image(tmp_path / "evil.mhd")


@pytest.mark.parametrize("name, data_file", [
    ("single.mha", "../secret/data.raw"),                  # .mha may name an external file too
    ("list.mhd", "LIST 2D\n../secret/data.raw"),            # names on the following lines
    ("pattern.mha", "../secret/data%d.raw 1 1 1"),          # printf form
    ("spaced.mhd", "x /../../secret/data.raw"),            # a name with a space, read whole by MetaIO
])
def test_row24_metaimage_data_outside_the_folder_in_every_form(tmp_path, name, data_file):
    (tmp_path / "secret").mkdir()
    for secret in ("data.raw", "data1.raw"):
        (tmp_path / "secret" / secret).write_bytes(b"SECRETDATA")
    (tmp_path / "sub" / "x ").mkdir(parents=True)
    (tmp_path / "sub" / name).write_text("ObjectType = Image\nNDims = 3\nDimSize = 10 1 1\nElementType = MET_UCHAR\n"
                                         f"ElementDataFile = {data_file}\n")
    with pytest.raises(InputError, match=rf"{name}: ElementDataFile .* lies outside the header's folder"):
        read_image(tmp_path / "sub" / name)


def test_row13_metaimage_list_data_short_missing_or_misdeclared_is_refused(tmp_path):
    """ITK fills what LIST files lack with stale memory (only a console message): refuse before reading."""
    header = "ObjectType = Image\nNDims = 3\nDimSize = 10 10 3\nElementType = MET_UCHAR\nElementDataFile = {}\n"
    for i in range(3):
        np.full(100, i, np.uint8).tofile(tmp_path / f"s{i}.raw")
    (tmp_path / "ok.mhd").write_text(header.format("LIST 2D\ns0.raw\ns1.raw\ns2.raw"))
    assert [float(v) for v in read_image(tmp_path / "ok.mhd").array.mean(axis=(1, 2))] == [0.0, 1.0, 2.0]
    (tmp_path / "short.mhd").write_text(header.format("LIST 2D\ns0.raw"))
    with pytest.raises(InputError, match=r"short.mhd: the 1 LIST data file\(s\) hold 100 bytes but the header "
                                         r"announces 300"):
        read_image(tmp_path / "short.mhd")
    (tmp_path / "missing.mhd").write_text(header.format("LIST 2D\ns0.raw\ns1.raw\ngone.raw"))
    with pytest.raises(InputError, match=r"missing.mhd: the LIST data file 'gone.raw' does not exist"):
        read_image(tmp_path / "missing.mhd")
    np.arange(300, dtype=np.uint8).tofile(tmp_path / "whole.raw")
    (tmp_path / "whole.mhd").write_text(header.format("LIST 3D\nwhole.raw"))
    with pytest.raises(InputError, match=r"whole.mhd: 'ElementDataFile = LIST 3D' lists 3-D files for a 3-D image"):
        read_image(tmp_path / "whole.mhd")
