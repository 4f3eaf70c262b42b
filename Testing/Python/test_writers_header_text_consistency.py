"""Audit: header text from the model card in a DICOM SEG and a ``.seg.nrrd``.

* DICOM SEG: the model id and version go into LO attributes (ManufacturerModelName,
  DeviceSerialNumber, ContentDescription). A backslash in them made highdicom refuse the SEG with
  an error that blamed the source series, a line break was written as a control character, and a
  long model id cut the "research use only" notice off ContentDescription.
* A segment name with a control character other than a line break (tab, vertical tab, form feed,
  DEL) was kept in the ``.seg.nrrd`` but became a space in the DICOM SEG, so the two files of one
  run named the segment differently and did not pair by name.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from io_test_helpers import geometry_for, make_card, rotation, write_dicom_series

from SDSegLogic.io import read_image, write_segmentation
from SDSegLogic.model_card import SegmentClass

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("highdicom")
sitk = pytest.importorskip("SimpleITK")

SHAPE_KJI = (3, 6, 7)
_LO_ATTRIBUTES = ("ManufacturerModelName", "DeviceSerialNumber", "ContentDescription")


def _series_and_result(tmp_path: Path, card):
    folder = tmp_path / "series"
    folder.mkdir()
    geometry = geometry_for(rotation(25, 15), shape_kji=SHAPE_KJI, spacing=(0.8, 0.7, 2.5))
    write_dicom_series(folder, np.zeros(SHAPE_KJI, np.float32), geometry)
    image = read_image(folder)
    labels = np.zeros(image.geometry.array_shape, np.uint8)
    for n, segment in enumerate(card.classes):
        labels[n % SHAPE_KJI[0], 1:3, 2 + n % 4] = segment.label_value
    result = SimpleNamespace(labels=labels, geometry=image.geometry, seed=5, num_inference_steps=1, num_samples=1,
                             warnings=[])
    return folder, image, result


def _write_seg(tmp_path: Path, card):
    from SDSegLogic.io.dicom_seg import write_dicom_seg
    from SDSegLogic.io.dicom_sources import load_dicom_sources

    folder, image, result = _series_and_result(tmp_path, card)
    path = write_dicom_seg(tmp_path / "out.seg.dcm", result, card, load_dicom_sources(folder, image.geometry, None))
    return pydicom.dcmread(path), result


def _is_single_lo(value) -> bool:
    """One LO value: a plain string (not multi-valued), at most 64 characters, no control characters."""
    return isinstance(value, str) and len(value) <= 64 and not any(ch < " " or ch == "\x7f" for ch in value)


# a line break in the id or version is refused by the model card itself (test_s20b_card_names_codes_ids.py)
@pytest.mark.parametrize("model_id, version", [("ct\\liver", "1.0"), ("ct-liver", "1\\2")],
                         ids=["backslash-in-id", "backslash-in-version"])
def test_model_id_and_version_become_valid_lo_values(tmp_path, model_id, version):
    card = make_card(1, model_id=model_id).replace(version=version)
    seg, _ = _write_seg(tmp_path, card)
    for keyword in _LO_ATTRIBUTES:
        assert _is_single_lo(seg.get(keyword)), f"{keyword} = {seg.get(keyword)!r} is not one valid LO value"
    assert seg.ContentDescription.endswith("research use only")


def test_a_long_model_id_keeps_the_research_use_notice(tmp_path):
    card = make_card(1, model_id="sdseg-totalsegmentator-abdomen-ct-organs-highres").replace(version="12.3.0")
    seg, _ = _write_seg(tmp_path, card)
    assert _is_single_lo(seg.ContentDescription)
    assert seg.ContentDescription.startswith("sdseg-totalsegmentator")
    assert seg.ContentDescription.endswith(" - research use only")


def test_segment_names_read_back_the_same_from_both_files(tmp_path):
    # control characters are refused by the model card itself (test_s19c_models_card_name_controls.py); these are
    # the printable names that header syntaxes still treat specially (NRRD's ':=', blanks, non-ASCII)
    names = ["left kidney", "spaced  inside", "key:=value", "a|b^c", "Leber 肝 ü", "tab-free name"]
    card = make_card(1).replace(classes=tuple(SegmentClass(name, n + 1, (0.5, 0.5, 0.5), {})
                                              for n, name in enumerate(names)))
    seg, result = _write_seg(tmp_path, card)
    nrrd_path = write_segmentation(tmp_path / "out.seg.nrrd", result, card)
    image = sitk.ReadImage(str(nrrd_path))  # ITK's NRRD reader (teem's header rules)
    from_nrrd = [image.GetMetaData(f"Segment{n}_Name") for n in range(len(names))]
    from_dicom = [item.SegmentLabel for item in seg.SegmentSequence]
    assert from_nrrd == from_dicom
    assert all(_is_single_lo(name) for name in from_nrrd)
