"""A model card's terminology codes are checked where the card is read, not dropped at write time.

A misspelt role (``"Type"``, ``"categroy"``) or a code with an empty part was accepted by the card and
then skipped by :func:`SDSegLogic.terminology.segment_codes`: the .seg.nrrd, DICOM SEG and Slicer
segment said SNOMED CT "Tissue" instead of "Liver". A SNOMED CT code written in the wrong order
(``["SCT", "Liver", "10200004"]``) reached the outputs as code value "Liver".
"""

from __future__ import annotations

import json

import pytest

from SDSegLogic.errors import ModelCardError
from SDSegLogic.io.seg_nrrd import terminology_string
from SDSegLogic.model_card import ModelCard

from engine_test_helpers import tiny_card

LIVER = ["SCT", "10200004", "Liver"]
ANATOMY = ["SCT", "123037004", "Anatomical Structure"]


def _card_with(tmp_path, terminology) -> str:
    data = tiny_card().to_dict()
    data["classes"][0]["terminology"] = terminology
    path = tmp_path / "model_card.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize("terminology, named", [
    ({"Type": LIVER}, "'Type'"),
    ({"categroy": ["SCT", "123037004", "Anatomical Structure"], "type": LIVER}, "'categroy'"),
    ({"type": ["SCT", "", "Liver"]}, "''"),
    ({"type": ["SCT", "Liver", "10200004"]}, "'Liver'"),
])
def test_bad_codes_are_refused_naming_card_class_and_value(tmp_path, terminology, named):
    path = _card_with(tmp_path, terminology)
    with pytest.raises(ModelCardError) as caught:
        ModelCard.from_json(path)
    message = str(caught.value)
    assert path in message and "'liver'" in message and named in message


@pytest.mark.parametrize("key", ["type", "typeModifier", "anatomicRegion", "region_modifier"])
def test_every_accepted_spelling_still_loads_and_reaches_the_seg_nrrd(tmp_path, key):
    terminology = {"category": ANATOMY, "type": LIVER}  # a type needs its category (test_s20b_card_names_codes_ids)
    if key != "type":
        terminology[key] = ["SCT", "7771000", "Left"]
    if key == "region_modifier":  # a modifier needs the region it modifies (test_s20b_card_names_codes_ids)
        terminology["region"] = ["SCT", "818981001", "Abdomen"]
    card = ModelCard.from_json(_card_with(tmp_path, terminology))
    entry = terminology_string(card.classes[0].terminology)
    assert "SCT^10200004^Liver" in entry and ("SCT^7771000^Left" in entry) == (key != "type")
