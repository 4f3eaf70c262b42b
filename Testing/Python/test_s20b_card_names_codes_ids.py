"""What a model card may say about its classes and its id, so that every output names and codes a segment alike.

* A class name with leading or trailing whitespace (``"liver "``) loaded: the ``.seg.nrrd`` kept the
  space, the DICOM SEG dropped it (readers strip LO padding), so one model named its segment
  differently per output format. The card now refuses it, naming the card file, the class and the
  name without the whitespace.
* A class whose terminology gave a ``type`` but no ``category`` loaded, and every writer filled the
  category with SNOMED CT "Tissue" (85756007): a liver was written as a tissue, not an "Anatomical
  Structure" (123037004). The card now refuses a type without its category (and a category without
  its type), naming the categories to choose from.
* A ``model_id`` (or ``version``) with a line break loaded, and reached log lines and file headers
  as given. The card now refuses control characters there with the model-id rule's sentence
  (:func:`SDSegLogic.model_names.model_id_problem`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from engine_test_helpers import tiny_card

from SDSegLogic.errors import ModelCardError
from SDSegLogic.model_card import ModelCard

BUNDLED = Path(__file__).resolve().parents[2] / "Resources" / "Models" / "sdseg-demo-ct-lite" / "model_card.json"


def _write(tmp_path: Path, edit) -> str:
    data = tiny_card().to_dict()
    edit(data)
    path = tmp_path / "model_card.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def _refusal(path: str) -> str:
    with pytest.raises(ModelCardError) as caught:
        ModelCard.from_json(path)
    return str(caught.value)


@pytest.mark.parametrize("name", ["liver ", " liver", "liver\u00a0", "\u2003liver"])
def test_a_class_name_with_surrounding_whitespace_is_refused(tmp_path, name):
    path = _write(tmp_path, lambda d: d["classes"][0].update(name=name))
    message = _refusal(path)
    assert path in message and repr(name) in message and "'liver'" in message, message


def test_the_bundled_card_gives_clean_names_and_paired_codes():
    card = ModelCard.from_json(BUNDLED)
    assert all(c.name == c.name.strip() for c in card.classes)
    assert all({"category", "type"} <= set(c.terminology) for c in card.classes)


def test_a_clean_name_reads_back_the_same_from_seg_nrrd_and_dicom_seg_rules(tmp_path):
    """The writers' own text rules leave a name the card accepts as it is (no strip, no cut)."""
    from SDSegLogic.io._nrrd_write import _clean
    from SDSegLogic.io.dicom_seg import _lo

    card = ModelCard.from_json(BUNDLED)
    for segment in card.classes:
        assert _lo(segment.name).strip(" ") == segment.name == _clean(segment.name)


@pytest.mark.parametrize("terminology, missing", [
    ({"type": ["SCT", "10200004", "Liver"]}, "category"),
    ({"category": ["SCT", "123037004", "Anatomical Structure"]}, "type"),
])
def test_a_type_without_category_is_refused_naming_the_categories(tmp_path, terminology, missing):
    path = _write(tmp_path, lambda d: d["classes"][0].update(terminology=terminology))
    message = _refusal(path)
    assert path in message and "'liver'" in message and f"no {missing}" in message, message
    assert "123037004" in message and "Anatomical Structure" in message and "49755003" in message, message


def test_a_card_with_category_and_type_writes_both(tmp_path):
    from SDSegLogic.io.seg_nrrd import seg_nrrd_fields

    card = ModelCard.from_json(_write(tmp_path, lambda d: None))
    tags = seg_nrrd_fields(np.ones((1, 2, 2), np.uint8), card, object())["Segment0_Tags"]
    assert "SCT^123037004^Anatomical Structure~SCT^10200004^Liver" in tags
    assert "85756007" not in tags


@pytest.mark.parametrize("model_id", ["tiny\nFORGED sdseg-engine ERROR", "tiny\rx", "tiny\x1b[2J", "tiny\u2028x"])
def test_a_model_id_with_a_control_character_is_refused_at_load(tmp_path, model_id):
    path = _write(tmp_path, lambda d: d.update(model_id=model_id))
    message = _refusal(path)
    assert path in message and repr(model_id) in message and "fix model_id in the model card" in message, message


def test_a_version_with_a_line_break_is_refused_at_load(tmp_path):
    path = _write(tmp_path, lambda d: d.update(version="1.0.0\nFORGED"))
    message = _refusal(path)
    assert path in message and repr("1.0.0\nFORGED") in message, message


def test_an_id_that_only_the_cache_refuses_still_loads(tmp_path):
    """``"My CT Model"`` runs from its folder; ``models verify`` and the zip import refuse it (one rule)."""
    assert ModelCard.from_json(_write(tmp_path, lambda d: d.update(model_id="My CT Model"))).model_id == "My CT Model"


def test_a_class_name_longer_than_a_dicom_label_is_refused(tmp_path):
    """A 72-character name was cut to 64 in the DICOM SEG (SegmentLabel is LO) and kept whole in the .seg.nrrd."""
    name = "Structure of the left anterior descending branch of the coronary artery"
    path = _write(tmp_path, lambda d: d["classes"][0].update(name=name))
    message = _refusal(path)
    assert path in message and repr(name) in message and "64" in message, message


def test_a_64_character_name_reaches_both_formats_whole(tmp_path):
    from SDSegLogic.io.dicom_seg import _lo
    from SDSegLogic.io.seg_nrrd import seg_nrrd_fields

    name = "Structure of the left anterior descending branch of the coronary"
    assert len(name) == 64
    card = ModelCard.from_json(_write(tmp_path, lambda d: d["classes"][0].update(name=name)))
    assert seg_nrrd_fields(np.ones((1, 2, 2), np.uint8), card, object())["Segment0_Name"] == name == _lo(card.classes[0].name)


@pytest.mark.parametrize("code, named", [
    (["SCT", " 10200004", "Liver"], "whitespace"),  # DICOM SH drops the space, the .seg.nrrd keeps it
    (["SCT", "10200004", "Liver "], "whitespace"),
    (["sct", "10200004", "Liver"], "'sct'"),  # coding scheme designators are case-sensitive: Slicer knows "SCT"
])
def test_a_code_part_that_the_formats_would_read_differently_is_refused(tmp_path, code, named):
    terminology = {"category": ["SCT", "123037004", "Anatomical Structure"], "type": code}
    path = _write(tmp_path, lambda d: d["classes"][0].update(terminology=terminology))
    message = _refusal(path)
    assert path in message and "'liver'" in message and named in message, message


def test_a_region_modifier_without_its_region_is_refused(tmp_path):
    """The .seg.nrrd stored the lone modifier ("~^^~SCT^7771000^Left"), the DICOM SEG dropped it."""
    terminology = {"category": ["SCT", "123037004", "Anatomical Structure"], "type": ["SCT", "64033007", "Kidney"],
                   "anatomicRegionModifier": ["SCT", "7771000", "Left"]}
    path = _write(tmp_path, lambda d: d["classes"][0].update(terminology=terminology))
    message = _refusal(path)
    assert path in message and "'anatomicRegionModifier'" in message and "no region" in message, message
