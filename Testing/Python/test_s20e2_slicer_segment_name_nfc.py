"""A person's segment whose name is the class's name in decomposed Unicode (NFD) is told apart.

A segment name typed on macOS, or read from a DICOM SEG written there, may come decomposed:
``"pancre" + "e" + U+0301 + "as"`` shows exactly as ``"pancréas"``. The engine compares class names
after NFC normalisation (:func:`SDSegLogic.class_names.class_name_key`); the panel's writer did
not, so a person's NFD ``"tête du pancréas"`` and SDSeg's NFC ``"tête du pancréas"`` were two
segments of one visible name, with no warning naming which one is the person's work (the
segment list, the 3D legend and a DICOM SEG export showed the name twice). Now SDSeg's segment is
named ``"tête du pancréas (SDSeg)"`` and the run's warnings say so. Against
``Testing/Slicer/fake_slicer.py`` (MRML cannot exist outside 3D Slicer).
"""

from __future__ import annotations

import unicodedata

import numpy as np

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - puts SDSegLib on sys.path
from test_slicer_segment_name_clash import SHAPE, _hand_drawn, _names, _scene

NAME = unicodedata.normalize("NFC", "tête du pancréas")
CARD = {"model_id": "tiny-nfc", "version": "0.0.1",
        "classes": [{"name": NAME, "label_value": 1, "color": [0.8, 0.6, 0.2]},
                    {"name": "spleen", "label_value": 2, "color": [0.6, 0.2, 0.8]}]}


def _own_id() -> str:
    from SDSegLib.segmentation_writer import segment_specs

    return segment_specs(CARD)[0].segment_id


def test_s20e2_nfd_named_segment_of_a_person_is_told_apart(monkeypatch):
    from SDSegLib.segmentation_writer import WARNINGS_ATTRIBUTE, kept_segment_notes, write_segmentation

    fake, volume = _scene(monkeypatch)
    drawn = unicodedata.normalize("NFD", NAME)
    assert drawn != NAME  # the same text on screen, other code points
    node, mask = _hand_drawn(fake, volume, drawn)
    labels = np.zeros(SHAPE, np.uint8)
    labels[:, :3] = 1
    notes = kept_segment_notes(node, CARD)
    write_segmentation(labels, CARD, volume, node)
    names = _names(node)
    np.testing.assert_array_equal(node.masks["Segment_1"], mask)  # the person's work, untouched
    assert names["Segment_1"] == drawn
    assert names[_own_id()] == f"{NAME} (SDSeg)", names  # before: a second "tête du pancréas"
    assert len(notes) == 1 and notes[0] in node.GetAttribute(WARNINGS_ATTRIBUTE).splitlines()  # before: no note


def test_s20e2_whole_volume_rerun_keeps_the_told_apart_name(monkeypatch):
    from SDSegLib.segmentation_writer import write_segmentation

    fake, volume = _scene(monkeypatch)
    node, _ = _hand_drawn(fake, volume, unicodedata.normalize("NFD", NAME).upper())  # case and code points differ
    write_segmentation(np.ones(SHAPE, np.uint8), CARD, volume, node)
    first = _names(node)
    write_segmentation(np.ones(SHAPE, np.uint8), CARD, volume, node)  # re-run: updated, not duplicated
    assert _names(node) == first and len(first) == 3
    assert first[_own_id()] == f"{NAME} (SDSeg)", first
