"""read_image on every supported format: voxels in (K, J, I), geometry in LPS, rescale applied."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from io_test_helpers import (MARKER, geometry_for, marker_array, rotation, signed_permutations, sitk_image,
                             write_dicom_series)

from SDSegLogic.errors import InputError
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io import detect_format, image_data_from_array, read_image


def _test_volume():
    g = geometry_for(signed_permutations()[21])
    array = (np.arange(np.prod(g.array_shape)) % 251).astype(np.int16).reshape(g.array_shape) - 100
    return array, g


@pytest.mark.parametrize("ext", ["nrrd", "nii", "nii.gz", "mha"])
def test_read_sitk_written_volume(tmp_path, ext):
    import SimpleITK as sitk

    array, g = _test_volume()
    path = tmp_path / f"ct.{ext}"
    sitk.WriteImage(sitk_image(array, g), str(path))
    data = read_image(path)
    assert data.array.dtype == np.float32 and data.array.shape == array.shape
    assert np.array_equal(data.array, array)
    g.require_same(data.geometry)  # G2 tolerances; NIfTI stores float32, still within 1e-6
    assert data.metadata["format"] == detect_format(path) and data.metadata["original_dtype"] == "int16"
    assert not data.is_rgb and data.source == path


def test_nrrd_ras_lps_and_nifti_agree_in_physical_space(tmp_path):
    """The same voxels saved as NRRD-LPS, NRRD-RAS (pynrrd) and NIfTI give the same LPS geometry."""
    import nrrd
    import SimpleITK as sitk

    array, g = _test_volume()
    axes = g.direction_matrix * np.asarray(g.spacing)
    lps_header = {"space": "left-posterior-superior", "space directions": axes.T, "space origin": np.asarray(g.origin),
                  "kinds": ["domain"] * 3}
    flip = np.array([-1.0, -1.0, 1.0])
    ras_header = {"space": "right-anterior-superior", "space directions": (axes * flip[:, None]).T,
                  "space origin": np.asarray(g.origin) * flip, "kinds": ["domain"] * 3}
    nrrd.write(str(tmp_path / "lps.nrrd"), array, lps_header, index_order="C")
    nrrd.write(str(tmp_path / "ras.nrrd"), array, ras_header, index_order="C")
    sitk.WriteImage(sitk_image(array, g), str(tmp_path / "same.nii.gz"))
    results = [read_image(tmp_path / n) for n in ("lps.nrrd", "ras.nrrd", "same.nii.gz")]
    for data in results:
        assert np.array_equal(data.array, array)
        g.require_same(data.geometry)


def test_int16_nifti_with_rescale_becomes_float_hu(tmp_path):
    import SimpleITK as sitk

    stored = np.array([[[0, 1, 2000, 4095]]], dtype=np.int16)
    path = tmp_path / "scaled.nii"
    sitk.WriteImage(sitk.GetImageFromArray(stored), str(path))
    raw = bytearray(path.read_bytes())
    raw[112:120] = np.array([0.5, -1024.0], dtype="<f4").tobytes()  # scl_slope, scl_inter
    path.write_bytes(bytes(raw))
    data = read_image(path)
    np.testing.assert_allclose(data.array[0, 0], [-1024.0, -1023.5, -24.0, 1023.5])
    assert data.array.dtype == np.float32
    assert data.metadata["rescale"] == {"slope": 0.5, "intercept": -1024.0}


def test_dicom_series_rescale_and_geometry(tmp_path):
    hu = marker_array()
    g = geometry_for(rotation(0, 0), spacing=(0.7, 0.8, 2.5))
    write_dicom_series(tmp_path, hu, g, intercept=-1024.0)
    data = read_image(tmp_path)
    assert np.array_equal(data.array, hu) and data.modality == "CT"
    g.require_same(data.geometry, spacing_rtol=1e-5, origin_atol=1e-4)
    assert data.metadata["rescale"]["intercept"] == -1024.0
    single = read_image(tmp_path / "slice_002.dcm")  # one file selects its series
    assert single.array.shape == hu.shape


def test_dicom_series_with_mixed_slopes_is_not_truncated(tmp_path):
    hu = np.full((4, 6, 5), -1000.0, dtype=np.float32)
    hu[:, 2, 2] = [100.5, 100.5, 101.5, -0.5]
    write_dicom_series(tmp_path, hu, geometry_for(np.eye(3), shape_kji=hu.shape), slopes=[1.0, 0.5, 0.5, 0.5],
                       intercept=-1000.0)
    data = read_image(tmp_path)
    np.testing.assert_allclose(data.array[1:, 2, 2], [100.5, 101.5, -0.5])
    assert data.metadata["rescale"]["varies_per_slice"]


def test_dicom_folder_with_two_series_uses_the_largest_and_says_so(tmp_path):
    hu = marker_array()
    write_dicom_series(tmp_path, hu, geometry_for(np.eye(3)), series_uid="1.2.3.4.1")
    write_dicom_series(tmp_path, hu[:3] + 5, geometry_for(np.eye(3), shape_kji=(3, 10, 12)), series_uid="1.2.3.4.2",
                       prefix="localizer")
    with pytest.warns(UserWarning, match=r"2 DICOM series found .* using the largest \(6 slices\)"):
        data = read_image(tmp_path)
    assert np.array_equal(data.array, hu) and data.metadata["series_count"] == 2
    chosen = read_image(tmp_path, series="1.2.3.4.2")
    assert np.array_equal(chosen.array, hu[:3] + 5)


def test_extensionless_dicom_file(tmp_path):
    hu = marker_array()[:1]
    names = write_dicom_series(tmp_path, hu, geometry_for(np.eye(3), shape_kji=hu.shape))
    bare = tmp_path / "IM0001"
    (tmp_path / names[0].split("/")[-1]).rename(bare)
    assert detect_format(bare) == "dicom"
    assert np.array_equal(read_image(bare).array, hu)


@pytest.mark.parametrize("ext, mode", [("png", "RGB"), ("jpg", "RGB"), ("bmp", "RGB"), ("tif", "RGB"), ("png", "L"),
                                       ("tif", "I;16")])
def test_read_photos(tmp_path, ext, mode):
    from PIL import Image

    rows, cols = np.indices((9, 13))
    smooth = rows * 20 + cols * 5  # smooth, asymmetric: row 0 is the top of the picture
    if mode == "RGB":
        pixels = np.stack([smooth, 255 - smooth, np.full_like(smooth, 90)], axis=-1).astype(np.uint8)
    elif mode == "L":
        pixels = smooth.astype(np.uint8)
    else:
        pixels = (smooth * 200).astype(np.uint16)
    path = tmp_path / f"photo.{ext}"
    Image.fromarray(pixels).save(path, **({"quality": 95} if ext == "jpg" else {}))
    data = read_image(path)
    assert data.array.shape == (1,) + pixels.shape and data.array.dtype == np.float32
    assert data.is_rgb == (mode == "RGB") and data.modality == "photo" and data.metadata["is_2d"]
    assert data.geometry == ImageGeometry.identity((13, 9, 1))
    if mode == "I;16":  # 16-bit pictures are scaled to 0..255 like 16-bit colour
        np.testing.assert_allclose(data.array[0], pixels * (255.0 / 65535.0), rtol=1e-6)
        assert data.metadata["original_dtype"] == "uint16"
    elif ext != "jpg":
        assert np.array_equal(data.array[0], pixels)
    else:
        assert np.abs(data.array[0] - pixels).mean() < 3


def test_rgb_nrrd_and_vector_mha(tmp_path):
    import nrrd
    import SimpleITK as sitk

    rgb = np.random.default_rng(4).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    nrrd.write(str(tmp_path / "c.nrrd"), rgb, {"kinds": ["RGB-color", "domain", "domain", "domain"],
                                              "space": "left-posterior-superior",
                                              "space directions": np.vstack([[np.nan] * 3, np.eye(3)]),
                                              "space origin": np.zeros(3)}, index_order="C")
    image = sitk.GetImageFromArray(rgb, isVector=True)
    sitk.WriteImage(image, str(tmp_path / "c.mha"))
    for name in ("c.nrrd", "c.mha"):
        data = read_image(tmp_path / name)
        assert data.is_rgb and data.array.shape == rgb.shape and np.array_equal(data.array, rgb)


def test_two_d_nrrd_becomes_single_slice(tmp_path):
    import SimpleITK as sitk

    plane = np.arange(20, dtype=np.float32).reshape(4, 5)
    image = sitk.GetImageFromArray(plane)
    image.SetSpacing((0.5, 0.25))
    image.SetOrigin((3.0, 4.0))
    sitk.WriteImage(image, str(tmp_path / "plane.nrrd"))
    sitk.WriteImage(image, str(tmp_path / "plane.mha"))
    with pytest.warns(UserWarning, match="no 'space'; assuming LPS"):
        read_image(tmp_path / "plane.nrrd")
    for name in ("plane.nrrd", "plane.mha"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = read_image(tmp_path / name)
        assert data.array.shape == (1, 4, 5) and data.geometry.spacing == (0.5, 0.25, 1.0)
        assert data.geometry.origin == (3.0, 4.0, 0.0) and data.metadata["is_2d"]


def test_image_data_from_array():
    data = image_data_from_array(np.zeros((3, 4, 5), dtype=np.int16))
    assert data.array.dtype == np.float32 and data.geometry.shape == (5, 4, 3) and not data.is_rgb
    assert image_data_from_array(np.zeros((1, 4, 5, 3), dtype=np.uint8)).is_rgb


def test_reading_does_not_warn_for_clean_files(tmp_path):
    import SimpleITK as sitk

    array, g = _test_volume()
    sitk.WriteImage(sitk_image(array, g), str(tmp_path / "ok.nrrd"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(tmp_path / "ok.nrrd").metadata["warnings"] == []


@pytest.mark.parametrize("name, dtype", [("g16.png", "<u2"), ("g16.tif", "<u2"), ("g16b.tif", ">u2")])
def test_16bit_gray_photo_is_on_the_8bit_scale_like_16bit_colour(tmp_path, name, dtype):
    from PIL import Image

    eight = (np.indices((9, 13)).sum(axis=0) * 9).astype(np.uint8)  # 0..180, asymmetric
    Image.fromarray(eight).save(tmp_path / "g8.png")
    Image.fromarray((eight.astype(np.uint16) * 257).astype(dtype)).save(tmp_path / name)
    data = read_image(tmp_path / name)
    np.testing.assert_allclose(data.array[0], read_image(tmp_path / "g8.png").array[0], atol=1e-4)
    assert data.metadata["original_dtype"] in ("uint16", ">u2") and not data.is_rgb
    import nrrd

    nrrd.write(str(tmp_path / "v16.nrrd"), eight.astype(np.uint16)[None] * 257, {"kinds": ["domain"] * 3},
               index_order="C")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert read_image(tmp_path / "v16.nrrd").array.max() == 180 * 257  # volumes keep their values


def test_two_d_nifti_is_placed_by_its_sform(tmp_path):
    """A NIfTI with dim[0] = 2 whose sform puts the plane at z = 55 mm, tilted 10 degrees about x."""
    import struct

    import SimpleITK as sitk

    plane = np.arange(6 * 7, dtype=np.int16).reshape(6, 7)
    path = tmp_path / "plane.nii"
    sitk.WriteImage(sitk.GetImageFromArray(plane), str(path))
    lps = rotation(0, 10) * np.array([0.8, 0.9, 3.0])  # spacing-scaled LPS axes (columns)
    origin_lps = np.array([12.5, -40.25, 55.0])
    ras = np.diag([-1.0, -1.0, 1.0]) @ np.hstack([lps, origin_lps[:, None]])
    raw = bytearray(path.read_bytes())
    struct.pack_into("<hh", raw, 252, 0, 1)  # qform_code 0, sform_code 1
    struct.pack_into("<12f", raw, 280, *ras.ravel())
    path.write_bytes(bytes(raw))
    data = read_image(path)
    expected = ImageGeometry((0.8, 0.9, 3.0), tuple(origin_lps), rotation(0, 10), (7, 6, 1))
    expected.require_same(data.geometry, spacing_rtol=1e-6, origin_atol=1e-4)
    assert np.array_equal(data.array[0], plane) and data.metadata["is_2d"]


def _series_with_a_truncated_file(folder, prefix="slice", uid="1.2.826.0.1.3680043.2.1125.1", offset=0.0):
    names = write_dicom_series(folder, marker_array()[:4] + offset, geometry_for(np.eye(3), shape_kji=(4, 10, 12)),
                               series_uid=uid, prefix=prefix)
    last = names[-1].split("/")[-1]
    raw = (folder / last).read_bytes()
    (folder / last).write_bytes(raw[:-300])  # GDCM drops it from the series
    return last


def test_dicom_file_in_no_series_warns_and_cannot_be_named(tmp_path):
    last = _series_with_a_truncated_file(tmp_path)
    (tmp_path / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")  # not a slice: never reported
    (tmp_path / "notes.txt").write_text("not DICOM")
    with pytest.warns(UserWarning, match=rf"1 DICOM file\(s\) belong to no readable series .*\({last}\)"):
        data = read_image(tmp_path)
    assert data.array.shape[0] == 3 and any(last in w for w in data.metadata["warnings"])
    with pytest.raises(InputError, match=rf"{last}: this file belongs to no readable DICOM series"):
        read_image(tmp_path / last)


def test_dicom_corrupt_file_named_directly_does_not_read_another_series(tmp_path):
    write_dicom_series(tmp_path, marker_array(), geometry_for(np.eye(3)), series_uid="1.2.3.9.1", prefix="a")
    last = _series_with_a_truncated_file(tmp_path, prefix="b", uid="1.2.3.9.2", offset=900.0)
    with pytest.raises(InputError, match="belongs to no readable DICOM series .* 2 readable series"):
        read_image(tmp_path / last)
    with pytest.warns(UserWarning, match="belong to no readable series"):
        good = read_image(tmp_path / "b_000.dcm")  # a good file still picks its own series
    assert good.array.shape[0] == 3 and good.array.max() == MARKER + 900.0


def test_dicom_tie_of_largest_series_is_refused_and_listed(tmp_path):
    hu, g = marker_array(), geometry_for(np.eye(3))
    write_dicom_series(tmp_path, hu, g, series_uid="1.2.3.4.1", prefix="a", description="Axial soft tissue")
    write_dicom_series(tmp_path, hu + 5, g, series_uid="1.2.3.4.2", prefix="b", description="Axial bone")
    write_dicom_series(tmp_path, hu[:2], geometry_for(np.eye(3), shape_kji=(2, 10, 12)), series_uid="1.2.3.4.3",
                       prefix="c")
    with pytest.raises(InputError, match="2 DICOM series share the largest slice count \\(6\\)") as info:
        read_image(tmp_path)
    message = str(info.value)
    for text in ("1.2.3.4.1  'Axial soft tissue'  6 slices", "1.2.3.4.2  'Axial bone'  6 slices", "1.2.3.4.3  ''  2",
                 "Name one file of the wanted series", "folder holding only that series"):
        assert text in message
    assert np.array_equal(read_image(tmp_path / "b_000.dcm").array, hu + 5)
    assert np.array_equal(read_image(tmp_path, series="1.2.3.4.1").array, hu)
