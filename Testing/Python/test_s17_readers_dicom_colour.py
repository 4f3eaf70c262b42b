"""A colour DICOM (RGB, YBR or palette colour: a fundus or skin photo, a secondary capture) keeps its colour.

SimpleITK and 3D Slicer read such a file as an RGB vector image; it was read as its luminance (the
float output type made ITK convert it) and the memory check counted one value per pixel, not three.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image
from io_test_helpers import write_dicom_picture

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("pydicom")


def _photo() -> np.ndarray:
    """(20, 30, 3) uint8: red background, a green band, a blue edge (every channel differs)."""
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[5:10, :, 1] = 255
    rgb[:, :4, 2] = 90
    return rgb


@pytest.mark.parametrize("planar", [0, 1], ids=["interleaved", "planar"])
def test_rgb_dicom_reads_in_colour_like_simpleitk_and_png(tmp_path, planar):
    from PIL import Image

    rgb = _photo()
    pixels = (rgb if planar == 0 else np.moveaxis(rgb, -1, 0)).tobytes()
    write_dicom_picture(tmp_path / "fundus.dcm", pixels, 20, 30, "RGB", 3, PlanarConfiguration=planar)
    Image.fromarray(rgb).save(tmp_path / "fundus.png")
    data = read_image(tmp_path / "fundus.dcm")
    itk = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "fundus.dcm")))  # what 3D Slicer shows
    assert data.is_rgb and data.array.shape == (1, 20, 30, 3)
    assert np.array_equal(data.array, itk.astype(np.float32))
    assert np.array_equal(data.array, read_image(tmp_path / "fundus.png").array)  # the same as the PNG photo
    assert data.geometry.array_shape == (1, 20, 30)


def test_palette_colour_dicom_reads_in_colour_like_simpleitk(tmp_path):
    ramp = (np.arange(256, dtype=np.uint16) * 257).tobytes()
    luts = {f"{c}PaletteColorLookupTableDescriptor": [256, 0, 16] for c in ("Red", "Green", "Blue")}
    luts.update(RedPaletteColorLookupTableData=ramp, GreenPaletteColorLookupTableData=ramp[::-1],
                BluePaletteColorLookupTableData=np.full(256, 1000, np.uint16).tobytes())
    write_dicom_picture(tmp_path / "palette.dcm", np.arange(20, dtype=np.uint8).tobytes(), 4, 5, "PALETTE COLOR", 1, **luts)
    itk = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "palette.dcm")))
    data = read_image(tmp_path / "palette.dcm")
    assert data.is_rgb and np.array_equal(data.array, itk.astype(np.float32))


def test_memory_check_counts_three_values_per_colour_pixel(tmp_path):
    write_dicom_picture(tmp_path / "fundus.dcm", _photo().tobytes(), 20, 30, "RGB", 3, PlanarConfiguration=0)
    one_channel = 20 * 30 * 4  # float32 bytes of a grey image of this size
    with pytest.raises(InputError, match=r"fundus\.dcm: the image holds 1,800 values .*memory budget"):
        read_image(tmp_path / "fundus.dcm", max_bytes=2 * one_channel)
    assert read_image(tmp_path / "fundus.dcm", max_bytes=3 * one_channel).is_rgb
