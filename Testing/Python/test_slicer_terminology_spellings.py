"""The Slicer module writes every terminology role a model card may spell, as the engine's writers do.

The module kept its own list of spellings, without ``anatomicRegionModifier``: a card using it lost
its region modifier in Slicer while the engine's ``.seg.nrrd`` and DICOM SEG kept it. Pure
functions of ``SDSegLib.segmentation_writer``; no Slicer node is involved.
"""

from __future__ import annotations

import pytest

from slicer_logic_helpers import REPO  # noqa: F401 - puts SDSegLib on sys.path
from SDSegLib.segmentation_writer import terminology_entry
from SDSegLogic.terminology import ROLES

CODES = {
    "category": ("SCT", "123037004", "Anatomical Structure"),
    "type": ("SCT", "64033007", "Kidney"),
    "type_modifier": ("SCT", "7771000", "Left"),
    "region": ("SCT", "818981001", "Abdomen"),
    "region_modifier": ("SCT", "24028007", "Right"),
}
FIELD = {"category": 1, "type": 2, "type_modifier": 3, "region": 5, "region_modifier": 6}


@pytest.mark.parametrize("role,spelling", [(role, spelling) for role, spellings in ROLES.items() for spelling in spellings
                                           if role not in ("category", "type")])
def test_every_spelling_of_a_role_reaches_the_slicer_terminology_entry(role, spelling):
    card_terminology = {"category": CODES["category"], "type": CODES["type"], spelling: CODES[role]}
    parts = terminology_entry(card_terminology).split("~")
    assert len(parts) == 7
    assert parts[FIELD[role]] == "^".join(CODES[role])
