"""Photos with an Orientation tag are read on the pixel grid 3D Slicer shows, and say when viewers differ.

3D Slicer reads pictures with ITK; SimpleITK runs the same ITK readers, so its array is what Slicer
shows and what a mask must line up with. ITK ignores the EXIF Orientation of JPEG and PNG files and
reads a TIFF of Orientation 2-8 through libtiff, which applies only the tag's mirroring.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from SDSegLogic.io import read_image

HEIGHT, WIDTH = 20, 30


def _picture(colour: bool) -> np.ndarray:
    """(20, 30[, 3]) uint8 with an asymmetric marker: any turn or mirror moves it."""
    gray = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    gray[2:6, 3:9] = 250
    gray[12:18, 20:22] = 120
    gray[9, 27] = 60
    if not colour:
        return gray
    return np.stack([gray, gray // 2, 255 - gray], axis=-1)


def _as_slicer_reads(path, channels: int) -> np.ndarray:
    """SimpleITK's array of ``path`` (ITK, as in 3D Slicer), without the alpha ITK adds for oriented TIFFs."""
    import SimpleITK as sitk

    array = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    if array.ndim == 3 and channels == 1:
        return array[..., 0]
    return array[..., :channels] if array.ndim == 3 else array


def _read_quietly(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_image(path, **kwargs)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("colour", [False, True], ids=["gray", "rgb"])
def test_tiff_orientation_gives_the_pixel_grid_slicer_shows(tmp_path, orientation, colour):
    from PIL import Image

    path = tmp_path / f"photo_{orientation}.tif"
    Image.fromarray(_picture(colour)).save(path, tiffinfo={274: orientation})
    data = _read_quietly(path)
    expected = _as_slicer_reads(path, 3 if colour else 1)
    assert data.array.shape[1:3] == expected.shape[:2] == (HEIGHT, WIDTH)
    assert np.array_equal(data.array[0], expected.astype(np.float32))
    assert data.metadata["orientation"] == orientation


@pytest.mark.parametrize("compression", ["tiff_lzw", "tiff_adobe_deflate"])
def test_compressed_tiff_orientation_is_read_like_slicer(tmp_path, compression):
    """Compressed TIFFs go through Pillow's libtiff decoder, which must see the same Orientation 1."""
    from PIL import Image

    path = tmp_path / "compressed.tif"
    Image.fromarray(_picture(False)).save(path, tiffinfo={274: 8}, compression=compression)
    data = _read_quietly(path)
    assert np.array_equal(data.array[0], _as_slicer_reads(path, 1).astype(np.float32))


def test_each_tiff_page_is_read_like_slicer(tmp_path):
    from PIL import Image

    import SimpleITK as sitk

    first, second = _picture(False), np.ascontiguousarray(_picture(False)[::-1, ::-1])
    path = tmp_path / "pages.tif"
    Image.fromarray(first).save(path, save_all=True, append_images=[Image.fromarray(second)], tiffinfo={274: 6})
    volume = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # ITK: one slice per page, RGBA
    for page in (0, 1):
        assert np.array_equal(_read_quietly(path, frame=page).array[0], volume[page, ..., 0].astype(np.float32))


def test_tiff_orientation_that_turns_the_picture_warns_naming_file_and_remedy(tmp_path):
    from PIL import Image

    turned, mirrored = tmp_path / "turned.tif", tmp_path / "mirrored.tif"
    Image.fromarray(_picture(True)).save(turned, tiffinfo={274: 6})
    Image.fromarray(_picture(True)).save(mirrored, tiffinfo={274: 3})
    with pytest.warns(UserWarning, match=r"turned.tif: TIFF Orientation 6.*90 degrees clockwise.*exif_transpose"):
        data = read_image(turned)
    assert any("TIFF Orientation 6" in w for w in data.metadata["warnings"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a mirror-only tag: viewers and 3D Slicer agree, nothing to say
        read_image(mirrored)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_exif_orientation_is_ignored_like_slicer_and_warned_about(tmp_path, suffix):
    from PIL import Image

    picture = _picture(True)
    image = Image.fromarray(picture)
    exif = image.getexif()
    exif[274] = 6
    path = tmp_path / f"phone{suffix}"
    image.save(path, exif=exif.tobytes(), **({"quality": 100} if suffix == ".jpg" else {}))
    with pytest.warns(UserWarning, match=rf"phone\{suffix}: EXIF Orientation 6 is ignored.*turned 90 degrees "
                                         r"clockwise.*lines up in 3D Slicer"):
        data = read_image(path)
    assert data.array.shape == (1, HEIGHT, WIDTH, 3) and data.metadata["orientation"] == 6
    expected = _as_slicer_reads(path, 3).astype(np.float32)
    if suffix == ".png":
        assert np.array_equal(data.array[0], expected)
    else:  # two JPEG decoders (upsampling differs at colour edges): compare where the bright marker lies
        assert np.array_equal(data.array[0, ..., 0] > 128, expected[..., 0] > 128)
        assert np.array_equal(data.array[0, ..., 0] > 128, picture[..., 0] > 128)


def test_pictures_without_orientation_do_not_warn(tmp_path):
    from PIL import Image

    for name in ("plain.jpg", "plain.tif", "plain.png"):
        Image.fromarray(_picture(True)).save(tmp_path / name)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            data = read_image(tmp_path / name)
        assert data.metadata["orientation"] == 1


@pytest.mark.parametrize("orientation", [1, 6])
def test_bigtiff_is_read_like_slicer(tmp_path, orientation):
    """BigTIFF (8-byte offsets) is a TIFF that Pillow and ITK read; it was refused as 'not a recognised format'."""
    from PIL import Image

    path = tmp_path / "big.tif"
    Image.fromarray(_picture(True)).save(path, big_tiff=True, tiffinfo={274: orientation})
    if path.read_bytes()[:4] not in (b"II+\0", b"MM\0+"):
        pytest.skip("this Pillow cannot write BigTIFF")
    data = _read_quietly(path)
    assert np.array_equal(data.array[0], _as_slicer_reads(path, 3).astype(np.float32))
    assert data.metadata["orientation"] == orientation
