"""DICOM photographs (OP fundus photos, XC, ES, SM ...) are treated as the same picture saved as PNG.

A CT model warned about (and, strict, refused) a PNG photo but silently segmented the same photo
stored as an OP DICOM; a 16-bit gray OP DICOM kept 0..65535 where the same 16-bit PNG is scaled to
0..255, so a fundus model (``x / 255``) saw a saturated image.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from engine_test_helpers import tiny_card, tiny_model
from io_test_helpers import write_dicom_picture

from SDSegLogic.errors import InputError
from SDSegLogic.io import read_image
from SDSegLogic.model_card import IntensityMapping
from SDSegLogic.segment import segment_array

pytest.importorskip("SimpleITK")
pytest.importorskip("pydicom")
Image = pytest.importorskip("PIL.Image")

_OPHTHALMIC_8BIT = "1.2.840.10008.5.1.4.1.1.77.1.5.1"


def _write_photo_dicom(name, pixels: np.ndarray, modality: str = "OP") -> None:
    """``pixels`` (J, I) gray or (J, I, 3) RGB, uint8 or uint16, as one uncompressed DICOM file (pydicom)."""
    colour = pixels.ndim == 3
    write_dicom_picture(name, np.ascontiguousarray(pixels).astype(pixels.dtype.newbyteorder("<")).tobytes(),
                        *pixels.shape[:2], "RGB" if colour else "MONOCHROME2", 3 if colour else 1,
                        bits=pixels.dtype.itemsize * 8, sop_class=_OPHTHALMIC_8BIT, modality=modality,
                        **({"PlanarConfiguration": 0} if colour else {}))


def _pipeline(modality: str, kind: str, channels: int):
    from SDSegLogic.pipeline import SDSegPipeline

    mapping = IntensityMapping("rgb", None, None) if kind == "rgb" else IntensityMapping("window", -125.0, 275.0)
    card = tiny_card().replace(modality=modality, intensity=mapping, input_channels=channels)
    return SDSegPipeline(tiny_model(seed=1), card, device="cpu")


def _segment(image, pipeline, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = segment_array(image.array, image.geometry, pipeline, modality=image.modality, seed=0, **kwargs)
    return result, [str(w.message) for w in caught]


def _fundus(shape=(40, 48), colour=True, dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(7)
    top = np.iinfo(dtype).max
    return rng.integers(0, top, shape + ((3,) if colour else ()), dtype=dtype, endpoint=True)


@pytest.mark.parametrize("modality", ["OP", "XC", "ES", "SM"])
@pytest.mark.parametrize("colour", [True, False], ids=["colour", "gray"])
def test_ct_model_warns_about_a_photo_dicom_as_about_the_png(tmp_path, modality, colour):
    pixels = _fundus(colour=colour)
    _write_photo_dicom(tmp_path / "photo.dcm", pixels, modality)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    dicom, png = read_image(tmp_path / "photo.dcm"), read_image(tmp_path / "photo.png")
    assert dicom.modality == modality
    ct = _pipeline("CT", "window", 1)
    _, png_notes = _segment(png, ct)
    _, dicom_notes = _segment(dicom, ct)
    assert any("trained on CT images but the input is a 2-D picture" in n for n in png_notes)
    mismatch = [n for n in dicom_notes if "trained on CT images but the input is" in n]
    assert mismatch and f"DICOM {modality} image" in mismatch[0], dicom_notes
    with pytest.raises(InputError, match="trained on CT images.*refused because strict checking is on"):
        _segment(dicom, ct, strict_modality=True)


def test_fundus_model_segments_a_colour_op_dicom_like_the_png(tmp_path):
    pixels = _fundus()
    _write_photo_dicom(tmp_path / "fundus.dcm", pixels)
    Image.fromarray(pixels).save(tmp_path / "fundus.png")
    dicom, png = read_image(tmp_path / "fundus.dcm"), read_image(tmp_path / "fundus.png")
    assert dicom.is_rgb and png.is_rgb
    fundus = _pipeline("fundus", "rgb", 3)
    (a, notes), (b, _) = _segment(dicom, fundus), _segment(png, fundus)
    assert not any("trained on" in n for n in notes)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_sixteen_bit_gray_op_dicom_is_scaled_like_the_sixteen_bit_png(tmp_path):
    pixels = _fundus(colour=False, dtype=np.uint16)
    _write_photo_dicom(tmp_path / "redfree.dcm", pixels)
    Image.fromarray(pixels).save(tmp_path / "redfree.png")
    dicom, png = read_image(tmp_path / "redfree.dcm"), read_image(tmp_path / "redfree.png")
    assert png.metadata["original_dtype"] == "uint16" and float(png.array.max()) <= 255.0
    np.testing.assert_allclose(dicom.array, png.array, rtol=0, atol=1e-3)
    fundus = _pipeline("fundus", "rgb", 3)
    (a, _), (b, _) = _segment(dicom, fundus), _segment(png, fundus)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_gray_ct_dicom_keeps_its_values(tmp_path):
    """Only photo modalities are scaled: a 16-bit CT stays in its stored units (here no rescale)."""
    pixels = _fundus(colour=False, dtype=np.uint16)
    _write_photo_dicom(tmp_path / "ct.dcm", pixels, modality="CT")
    got = read_image(tmp_path / "ct.dcm")
    np.testing.assert_array_equal(got.array[0], pixels.astype(np.float32))
