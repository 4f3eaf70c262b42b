"""A JPEG/PNG whose orientation is only in its XMP packet: the warning says XMP, not EXIF."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from SDSegLogic.io import read_image

Image = pytest.importorskip("PIL.Image")
PngImagePlugin = pytest.importorskip("PIL.PngImagePlugin")

_XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')


def _picture() -> "Image.Image":
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8))


def _save(path, exif: bool, xmp: bool) -> None:
    options = {}
    if exif:
        tags = Image.Exif()
        tags[0x0112] = 6
        options["exif"] = tags.tobytes()
    if xmp and path.suffix == ".png":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", _XMP)
        options["pnginfo"] = info
    elif xmp:
        options["xmp"] = _XMP.encode()
    _picture().save(path, **options)


def _orientation_notes(path) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = read_image(path)
    assert data.array.shape[1:3] == (20, 30)  # the stored grid, as 3D Slicer shows it
    return [str(w.message) for w in caught if "Orientation" in str(w.message)]


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_orientation_only_in_xmp_is_named_xmp(tmp_path, suffix):
    path = tmp_path / f"photo{suffix}"
    _save(path, exif=False, xmp=True)
    notes = _orientation_notes(path)
    assert len(notes) == 1 and "XMP tiff:Orientation 6 is ignored" in notes[0] and "EXIF" not in notes[0]


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_orientation_in_exif_is_still_named_exif(tmp_path, suffix):
    path = tmp_path / f"photo{suffix}"
    _save(path, exif=True, xmp=True)
    notes = _orientation_notes(path)
    assert len(notes) == 1 and "EXIF Orientation 6 is ignored" in notes[0]
