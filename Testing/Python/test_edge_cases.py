"""One test (at least) per row of the edge-case table (reliability-anchors.md section 1).

Row 20 (a Slicer parent transform) is handled by the Slicer adapter, not by the engine; rows 2,
17 and 21 (several series) are also covered in test_io_readers.py, row 3 in test_geometry*.py.
"""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest
from io_test_helpers import (ThresholdPredictor, geometry_for, make_card, marker_array, rotation, signed_permutations,
                             sitk_image, write_dicom_series)

from SDSegLogic.errors import GeometryError, InputError, ModelCardError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io import read_image, validate_seg_header, write_segmentation
from SDSegLogic.model_card import SegmentClass
from SDSegLogic.segment import segment_array


def _segment(array, geometry, card=None, **kwargs):
    card = card or make_card()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return segment_array(array, geometry, ThresholdPredictor(card, 32), **kwargs)


def _write_nrrd(path, array, **header):
    import nrrd

    base = {"space": "left-posterior-superior", "space directions": np.eye(3), "space origin": np.zeros(3),
            "kinds": ["domain"] * 3}
    base.update(header)
    nrrd.write(str(path), array, base, index_order="C")
    return path


# ---------------------------------------------------------------- rows 1, 3, 4, 5, 6: geometry
def test_row01_oblique_direction_is_copied_bit_for_bit():
    g = geometry_for(rotation(30, 10))
    with pytest.warns(UserWarning, match="oblique by 31.5 degrees"):
        result = segment_array(marker_array(), g, ThresholdPredictor(make_card(), 32))
    assert result.geometry.direction == g.direction and result.geometry is g
    assert np.array_equal(result.labels, (marker_array() > 0).astype(np.uint8))


def test_row02_unknown_nrrd_space_is_rejected(tmp_path):
    path = _write_nrrd(tmp_path / "scanner.nrrd", np.zeros((2, 3, 4), np.int16), space="scanner-xyz")
    with pytest.raises(InputError, match="space 'scanner-xyz' is not supported"):
        read_image(path)


@pytest.mark.parametrize("index", range(0, 48, 5))
def test_row03_flipped_axes_land_on_the_same_voxels(index):
    g = geometry_for(signed_permutations()[index])
    assert np.array_equal(_segment(marker_array(), g).labels, (marker_array() > 0).astype(np.uint8))


def test_row04_sagittal_acquisition_is_sliced_axially_with_a_warning():
    # i -> Posterior, j -> Inferior, k -> Left: a sagittal stack
    direction = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], dtype=float)
    g = geometry_for(direction)
    with pytest.warns(UserWarning, match="stored as sagittal slices but the model cuts axial"):
        with pytest.warns(UserWarning, match="in-plane spacing 7 x 0.5 mm is anisotropic"):
            result = segment_array(marker_array(), g, ThresholdPredictor(make_card(), 32))
    assert result.plan.reorientation.slice_source_axis == 1  # input j (S-I) is the model's slicing axis
    assert np.array_equal(result.labels, (marker_array() > 0).astype(np.uint8))


def test_row05_anisotropic_spacing_keeps_axis_order(tmp_path):
    import nrrd

    g = geometry_for(np.eye(3), spacing=(0.5, 0.9, 7.0))
    result = _segment(marker_array(), g)
    assert result.geometry.spacing == (0.5, 0.9, 7.0)
    header = nrrd.read_header(str(write_segmentation(tmp_path / "a.seg.nrrd", result, make_card())))
    np.testing.assert_allclose(np.linalg.norm(header["space directions"], axis=1), [0.5, 0.9, 7.0])


def test_row06_single_slice_stays_3d():
    g = ImageGeometry((0.8, 0.8, 3.0), (0, 0, 0), np.eye(3), (48, 64, 1))
    array = np.full((1, 64, 48), -1000.0, dtype=np.float32)
    array[0, 10:20, 5:9] = 500.0
    result = _segment(array, g)
    assert result.labels.shape == (1, 64, 48) and result.geometry.spacing[2] == 3.0
    assert np.array_equal(result.labels[0] > 0, array[0] > 0)


def test_row06_single_sagittal_slice_is_sliced_along_its_thin_axis():
    direction = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], dtype=float)  # k -> Left, thin
    g = ImageGeometry((1.0, 1.0, 1.0), (0, 0, 0), direction, (40, 30, 1))
    array = np.full((1, 30, 40), -1000.0, dtype=np.float32)
    array[0, 5:12, 20:31] = 400.0
    with pytest.warns(UserWarning, match="single sagittal slice"):
        result = segment_array(array, g, ThresholdPredictor(make_card(), 32))
    assert result.plan.reorientation.slice_source_axis == 2 and result.plan.in_plane in ((30, 40), (40, 30))
    assert np.array_equal(result.labels[0] > 0, array[0] > 0)


# ---------------------------------------------------------------- rows 7, 8, 9: layout
def test_row07_2d_photo_gives_a_3d_seg_nrrd(tmp_path):
    import slicerio
    from PIL import Image

    rgb = np.zeros((40, 50, 3), dtype=np.uint8)
    rgb[5:15, 30:45] = (250, 200, 180)
    Image.fromarray(rgb).save(tmp_path / "polyp.png")
    card = make_card(kind="rgb", channels=3, orientation="LPS")
    data = read_image(tmp_path / "polyp.png")
    result = _segment(data.array, data.geometry, card)
    seg = slicerio.read_segmentation(str(write_segmentation(tmp_path / "polyp.seg.nrrd", result, card)))
    assert seg["voxels"].shape == (50, 40, 1)
    assert np.array_equal(seg["voxels"][:, :, 0].T > 0, rgb.sum(axis=-1) > 0)


def test_row08_4d_nrrd_needs_a_frame(tmp_path):
    frames = np.stack([np.full((3, 4, 5), v, np.int16) for v in (10, 20)])  # (T, K, J, I)
    path = _write_nrrd(tmp_path / "dwi.nrrd", np.moveaxis(frames, 0, -1),
                       kinds=["list", "domain", "domain", "domain"],
                       **{"space directions": np.vstack([[np.nan] * 3, np.eye(3)])})
    with pytest.raises(InputError, match="4-D image with 2 frames.*frame=0..1"):
        read_image(path)
    assert np.all(read_image(path, frame=1).array == 20)
    with pytest.raises(InputError, match="out of range"):
        read_image(path, frame=2)


def test_row08_4d_nifti_needs_a_frame(tmp_path):
    import SimpleITK as sitk

    volumes = [sitk.GetImageFromArray(np.full((3, 4, 5), v, np.int16)) for v in (1, 2, 3)]
    sitk.WriteImage(sitk.JoinSeries(volumes), str(tmp_path / "fmri.nii.gz"))
    with pytest.raises(InputError, match="3 frames"):
        read_image(tmp_path / "fmri.nii.gz")
    data = read_image(tmp_path / "fmri.nii.gz", frame=2)
    assert data.array.shape == (3, 4, 5) and np.all(data.array == 3)


def test_row09_rgba_and_channel_mismatch(tmp_path):
    from PIL import Image

    rgba = np.full((6, 7, 4), 255, dtype=np.uint8)
    rgba[..., 0] = 40
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    with pytest.warns(UserWarning, match="alpha"):
        assert read_image(tmp_path / "opaque.png").array.shape == (1, 6, 7, 3)
    rgba[0, 0, 3] = 10
    Image.fromarray(rgba).save(tmp_path / "transparent.png")
    with pytest.raises(InputError, match="transparent alpha"):
        read_image(tmp_path / "transparent.png")
    g = ImageGeometry.identity((7, 6, 1))
    rgb = np.repeat(np.linspace(0, 255, 42, dtype=np.float32).reshape(1, 6, 7, 1), 3, axis=-1)
    with pytest.warns(UserWarning, match="colour image given to a 1-channel"):
        segment_array(rgb, g, ThresholdPredictor(make_card(kind="minmax"), 32))
    with pytest.raises(InputError, match="strict"):
        segment_array(rgb, g, ThresholdPredictor(make_card(kind="minmax"), 32), strict_channels=True)
    with pytest.warns(UserWarning, match="grayscale image given to a colour"):
        segment_array(rgb[..., 0], g, ThresholdPredictor(make_card(kind="rgb", channels=3), 32))


# ---------------------------------------------------------------- rows 10, 11: values
def test_row10_nan_and_inf_are_rejected_or_filled():
    g = geometry_for(np.eye(3))
    array = marker_array()
    array[2, 3, 4] = np.nan
    array[5, 0, 0] = np.inf
    with pytest.raises(InputError, match=r"2 voxel value\(s\) are NaN or infinite \(first at index \(k, j, i\) = \(2, 3, 4\)\)"):
        segment_array(array, g, ThresholdPredictor(make_card(), 32))
    with pytest.warns(UserWarning, match="replaced 2"):
        result = segment_array(array, g, ThresholdPredictor(make_card(), 32), nan_policy="fill")
    assert np.all(np.isfinite(result.probabilities)) and result.labels[2, 3, 4] == 0


@pytest.mark.parametrize("value, kind", [(0.0, "window"), (-1024.0, "window"), (7.0, "minmax")])
def test_row11_constant_image_gives_empty_mask_and_warning(value, kind):
    g = geometry_for(np.eye(3))
    with pytest.warns(UserWarning, match="no foreground"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*constant")
        result = segment_array(np.full(g.array_shape, value, np.float32), g, ThresholdPredictor(make_card(kind=kind), 32))
    assert result.labels.dtype == np.uint8 and not result.labels.any()
    assert np.all(np.isfinite(result.probabilities))


# ---------------------------------------------------------------- rows 12-16: files
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


def test_row15_non_ascii_and_spaced_paths(tmp_path):
    import SimpleITK as sitk

    folder = tmp_path / "données 患者 ü"
    folder.mkdir()
    g = geometry_for(np.eye(3))
    for name in ("in put.nrrd", "in put.nii.gz"):
        sitk.WriteImage(sitk_image(marker_array(), g), str(folder / name))
        data = read_image(folder / name)
        result = _segment(data.array, data.geometry)
        for out in ("seg ü.seg.nrrd", "lab ü.nii.gz"):
            written = write_segmentation(folder / out, result, make_card(), input_path=folder / name)
            assert written.exists()
        assert np.array_equal(read_image(folder / "lab ü.nii.gz").array, result.labels)


def test_row16_huge_volume_is_refused_from_the_header(tmp_path):
    header = (b"NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: 1024 1024 4000\n"
              b"space directions: (1,0,0) (0,1,0) (0,0,1)\nkinds: domain domain domain\nendian: little\n"
              b"encoding: raw\nspace origin: (0,0,0)\n\n")
    (tmp_path / "huge.nrrd").write_bytes(header + b"\0" * 64)
    with pytest.raises(InputError, match=r"4,194,304,000 values .*15.6 GiB.*budget"):
        read_image(tmp_path / "huge.nrrd")


def test_row16_sizes_whose_product_passes_int64_are_refused(tmp_path):
    """The voxel count is a Python int: 2**32 x 2**32 must not wrap to 0 and slip past the memory check."""
    import struct

    import SimpleITK as sitk

    header = (b"NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: 4294967296 4294967296 1\n"
              b"space directions: (1,0,0) (0,1,0) (0,0,1)\nkinds: domain domain domain\nendian: little\n"
              b"encoding: raw\nspace origin: (0,0,0)\n\n")
    (tmp_path / "wrap.nrrd").write_bytes(header + b"\0" * 64)
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


# ---------------------------------------------------------------- rows 17-19: values and headers
def test_row17_raw_ct_values_warn(tmp_path):
    g = geometry_for(np.eye(3))
    with pytest.warns(UserWarning, match="raw stored values"):
        segment_array(marker_array() + 1024.0 * 3, g, ThresholdPredictor(make_card(), 32))


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "int32", "float32", "float64"])
def test_row18_every_dtype_becomes_float32(tmp_path, dtype):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    values = np.array([info.min, info.max, 0, 1] if info else [-1e30, 1e30, 0.5, -2.25], dtype=dtype)
    array = np.resize(values, (2, 3, 4)).astype(dtype)
    data = read_image(_write_nrrd(tmp_path / f"{dtype}.nrrd", array))
    assert data.array.dtype == np.float32 and data.metadata["original_dtype"] == dtype
    np.testing.assert_array_equal(data.array, array.astype(np.float32))


def _nifti_with(tmp_path, name, srow=None, quatern=None):
    import SimpleITK as sitk

    path = tmp_path / name
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 4), np.int16)), str(path))
    raw = bytearray(path.read_bytes())
    if srow is not None:
        raw[280:328] = np.asarray(srow, dtype="<f4").tobytes()
    if quatern is not None:
        raw[256:268] = np.asarray(quatern, dtype="<f4").tobytes()
    path.write_bytes(bytes(raw))
    return path


def test_row19_sheared_or_ambiguous_transforms_are_rejected(tmp_path):
    sheared = _nifti_with(tmp_path, "shear.nii", srow=[-1, 0.4, 0, 0, 0, -1, 0, 0, 0, 0, 1, 0])
    with pytest.raises(GeometryError, match="sform is sheared"):
        read_image(sheared)
    mismatch = _nifti_with(tmp_path, "mismatch.nii", quatern=[0.0, 0.0, 0.3826834])
    with pytest.raises(GeometryError, match="qform and sform describe different positions"):
        read_image(mismatch)
    nrrd_path = _write_nrrd(tmp_path / "shear.nrrd", np.zeros((2, 3, 4), np.int16),
                            **{"space directions": np.array([[1, 0, 0], [0.5, 1, 0], [0, 0, 1]], float)})
    with pytest.raises(GeometryError, match="not orthonormal"):
        read_image(nrrd_path)


# ---------------------------------------------------------------- rows 21-25
def test_row21_dicom_missing_slice_and_gantry_tilt(tmp_path):
    hu, g = marker_array(), geometry_for(np.eye(3), spacing=(0.7, 0.7, 2.0))
    (tmp_path / "gap").mkdir()
    write_dicom_series(tmp_path / "gap", hu, g, skip=(3,))
    with pytest.raises(GeometryError, match="not uniform .*missing"):
        read_image(tmp_path / "gap")
    (tmp_path / "tilt").mkdir()
    write_dicom_series(tmp_path / "tilt", hu, g, shift=(0.0, 0.6, 0.0))
    with pytest.raises(GeometryError, match="gantry tilt"):
        read_image(tmp_path / "tilt")


def test_row22_label_values_fit_uint8_and_more_than_255_are_refused():
    with pytest.raises(ModelCardError, match="1..255"):
        SegmentClass(name="x", label_value=300).validate("card")
    result = _segment(np.full(geometry_for(np.eye(3)).array_shape, -1000.0), geometry_for(np.eye(3)), make_card(3))
    assert result.labels.dtype == np.uint8 and result.voxel_counts == {"liver": 0, "spleen": 0, "kidney": 0}


def test_row23_mismatched_grids_are_refused():
    g = geometry_for(np.eye(3))
    with pytest.raises(GeometryError, match="origin"):
        g.require_same(ImageGeometry(g.spacing, np.add(g.origin, (0, 0.5, 0)), g.direction, g.shape), what="channel 2")


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


@pytest.mark.parametrize("field, value, message", [
    ("Segment1_ID", "Segment_1", "duplicated"),
    ("Segment0_Color", "1.5 0 0", "Color"),
    ("Segment1_Extent", "0 20 0 1 0 1", "outside the image"),
    ("Segment0_Layer", "1", "outside 0..0"),
    ("Segment1_LabelValue", "0", "must be > 0"),
])
def test_row25_malformed_seg_nrrd_metadata(tmp_path, field, value, message):
    import nrrd

    card = make_card(2)
    result = _segment(marker_array(), geometry_for(np.eye(3)), card)
    path = write_segmentation(tmp_path / "ok.seg.nrrd", result, card)
    header = nrrd.read_header(str(path))
    assert len(validate_seg_header(header)) == 2
    header[field] = value
    with pytest.raises(InputError, match=message):
        validate_seg_header(header, "edited.seg.nrrd")
    with pytest.raises(InputError, match="Slicer segmentation, not an image"):
        read_image(path)
