"""A model card refuses class names that no output can carry on one line, or alike in every format.

``class_name_problem`` refused control characters (category Cc) but accepted:

* U+2028 / U+2029 (line and paragraph separators): a line break for Unicode, Qt (Slicer's segment list)
  and ``str.splitlines``, kept as such by both writers, while the card's own id and version refused them;
* a lone surrogate (``"\\ud800"`` in the card's JSON): the card loaded, and the segmentation failed only when
  its name was encoded for the output file;
* a backslash: the DICOM SEG writer stores ``/`` (a backslash separates values), the ``.seg.nrrd`` keeps it.
"""

from __future__ import annotations

import json

import pytest

from SDSegLogic.errors import ModelCardError
from SDSegLogic.io.dicom_seg import _lo
from SDSegLogic.model_card import ModelCard


def _card(name: str) -> dict:
    return {"model_id": "tiny", "classes": [{"name": name, "label_value": 1}]}


@pytest.mark.parametrize("name", ["liver\u2028left", "liver\u2029left", "liver\x85left"])
def test_a_class_name_with_a_line_or_paragraph_separator_is_refused(name):
    assert len(name.splitlines()) == 2  # what text readers make of it
    with pytest.raises(ModelCardError, match="line break") as err:
        ModelCard.from_dict(_card(name), source="card.json")
    assert str(err.value).startswith("card.json: class name")


def test_a_class_name_with_a_lone_surrogate_is_refused_when_the_card_is_read():
    name = json.loads('"liver\\ud800"')  # valid JSON, not valid text
    with pytest.raises(UnicodeEncodeError):
        name.encode("utf-8")  # what every output writer does with the name
    with pytest.raises(ModelCardError, match="lone surrogate"):
        ModelCard.from_dict(_card(name), source="card.json")


def test_a_class_name_with_a_backslash_is_refused_with_the_name_to_use():
    name = "left\\right lobe"
    assert _lo(name) != name  # the DICOM SEG's segment label; the .seg.nrrd keeps the backslash
    with pytest.raises(ModelCardError, match="backslash") as err:
        ModelCard.from_dict(_card(name), source="card.json")
    assert "'left/right lobe'" in str(err.value)


@pytest.mark.parametrize("name", ["Tête", "liver/spleen", "a\u200db", "Läsion 2"])
def test_printable_names_stay_accepted(name):
    assert ModelCard.from_dict(_card(name)).classes[0].name == name
