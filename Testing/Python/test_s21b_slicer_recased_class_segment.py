"""A model update that only respells a class (case, Unicode form, surrounding spaces) updates its segment.

SDSeg's segment ids came from the class's raw name (``sdseg_1_Liver``): a re-run with a model whose
card says ``"liver"`` (or the name in decomposed Unicode, or with a trailing space) wrote a second
segment ``sdseg_1_liver`` beside the first, although the engine's one class-name rule
(:func:`SDSegLogic.class_names.class_name_key`) says both are one class: two liver segments in the
list, the 3D legend and a DICOM SEG export. Now the existing segment is found by that rule and
updated in place (its id, list place and colour kept), and named as the new card names the class.
Against ``Testing/Slicer/fake_slicer.py`` (MRML cannot exist outside 3D Slicer).
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - puts SDSegLib on sys.path
from test_slicer_segment_name_clash import SHAPE, _names, _scene


def _card(liver: str) -> dict:
    return {"model_id": "tiny-two", "version": "0.0.1",
            "classes": [{"name": liver, "label_value": 1, "color": [0.8, 0.3, 0.2]},
                        {"name": "spleen", "label_value": 2, "color": [0.2, 0.3, 0.8]}]}


def _labels(rows: slice) -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint8)
    labels[:, rows] = 1
    labels[:, 5:] = 2
    return labels


OLD_NEW = [("Liver", "liver"), ("LIVER", "Liver"),
           (unicodedata.normalize("NFD", "pancréas"), unicodedata.normalize("NFC", "Pancréas")),
           ("liver ", "liver"), ("liver", " Liver")]


@pytest.mark.parametrize("old, new", OLD_NEW)
@pytest.mark.parametrize("region", [None, (2, 0, 2)])
def test_s21b_a_respelt_class_updates_its_segment(monkeypatch, old, new, region):
    from SDSegLib.segmentation_writer import write_segmentation

    fake, volume = _scene(monkeypatch)
    node = write_segmentation(_labels(slice(0, 2)), _card(old), volume)
    (old_id,) = [sid for sid, name in _names(node).items() if name == old]
    write_segmentation(_labels(slice(2, 4)), _card(new), volume, node, region=region)
    names = _names(node)
    assert len(names) == 2, names  # before: a third segment, the class's second one
    assert names[old_id] == new  # updated in place, named as the card now names the class
    expected = _labels(slice(2, 4)) == 1
    if region is not None:  # a range re-run (slices k 0..1) keeps the segment outside its slices
        expected[region[2]:] = (_labels(slice(0, 2)) == 1)[region[2]:]
    np.testing.assert_array_equal(node.masks[old_id] > 0, expected)


def test_s21b_a_renamed_class_is_a_segment_of_its_own(monkeypatch):
    from SDSegLib.segmentation_writer import write_segmentation

    fake, volume = _scene(monkeypatch)
    node = write_segmentation(_labels(slice(0, 2)), _card("liver"), volume)
    write_segmentation(_labels(slice(2, 4)), _card("liver tumour"), volume, node)  # another class under label 1
    assert sorted(_names(node).values()) == ["liver", "liver tumour", "spleen"]
