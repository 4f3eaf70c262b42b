"""Coded terminology of a model-card class, normalised for every writer that stores codes.

A model card's ``terminology`` maps a role to ``(coding scheme, code value, code meaning)``, e.g.
``{"category": ("SCT", "123037004", "Anatomical Structure"), "type": ("SCT", "10200004", "Liver")}``.
Cards written by hand use several spellings of the optional roles (``typeModifier`` /
``type_modifier``, ``anatomicRegion`` / ``region`` ...); :func:`segment_codes` accepts them all,
as the Slicer writer does, and fills the two codes DICOM requires (category and type) with
SNOMED CT "Tissue" when the card gives none, as the ``.seg.nrrd`` writer does. A model card gives
both or neither (:class:`SDSegLogic.model_card.SegmentClass` refuses a type without its category):
a default category under a coded type said "Tissue" for a liver, whose category is "Anatomical
Structure" (SNOMED CT 123037004).
"""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

__all__ = ["CATEGORY_REMEDY", "Code", "DEFAULT_CODE", "ROLES", "segment_codes", "terminology_problem"]

Code = Tuple[str, str, str]
"""(coding scheme designator, code value, code meaning), e.g. ``("SCT", "10200004", "Liver")``."""

DEFAULT_CODE: Code = ("SCT", "85756007", "Tissue")
"""Category and type used when a card codes none (the ``.seg.nrrd`` writer's default as well)."""

ROLES: Dict[str, Tuple[str, ...]] = {
    "category": ("category",),
    "type": ("type",),
    "type_modifier": ("type_modifier", "typeModifier", "modifier"),
    "region": ("region", "anatomic_region", "anatomicRegion"),
    "region_modifier": ("region_modifier", "regionModifier", "anatomic_region_modifier", "anatomicRegionModifier"),
}
"""Normalised role -> the spellings accepted in a model card (first match wins)."""


def _lookup(terminology: Mapping[str, Sequence[str]], role: str) -> Optional[Code]:
    for alias in ROLES[role]:
        code = terminology.get(alias)
        if code and len(code) == 3 and all(str(part) for part in code):
            scheme, value, meaning = (str(part) for part in code)
            return scheme, value, meaning
    return None


def segment_codes(terminology: Optional[Mapping[str, Sequence[str]]]) -> Dict[str, Optional[Code]]:
    """Normalise a model-card terminology dict.

    Args:
        terminology: ``SegmentClass.terminology`` (role -> 3-sequence of str); may be empty.

    Returns:
        ``{"category": Code, "type": Code, "type_modifier": Code | None, "region": Code | None,
        "region_modifier": Code | None}``. ``category`` and ``type`` are never ``None``: a missing
        one becomes :data:`DEFAULT_CODE` (SNOMED CT 85756007 "Tissue").
    """
    terminology = terminology or {}
    codes: Dict[str, Optional[Code]] = {role: _lookup(terminology, role) for role in ROLES}
    for role in ("category", "type"):
        if codes[role] is None:
            codes[role] = DEFAULT_CODE
    return codes


_KEYS = frozenset(alias for aliases in ROLES.values() for alias in aliases)
_DIGITS_RE = re.compile(r"^[0-9]+$")
_EXAMPLE = '["SCT", "10200004", "Liver"]'
CATEGORY_REMEDY = ('Give "category" and "type" together: the category is ["SCT", "123037004", "Anatomical Structure"] '
                   'for an organ, vessel or bone, ["SCT", "49755003", "Morphologically Altered Structure"] for a lesion, '
                   'tumour or polyp, ["SCT", "85756007", "Tissue"] for a tissue such as fat or muscle; the type is the '
                   f'structure, e.g. {_EXAMPLE}.')


def terminology_problem(terminology: Any) -> str:
    """Why a model-card class's ``terminology`` would be written wrongly (a sentence with the remedy), or ``""``.

    Refused: a role no writer reads (a misspelt ``"categroy"`` was dropped: the segment became
    "Tissue"); a code that is not three non-empty strings; a part with surrounding whitespace (a
    DICOM SEG drops it, a ``.seg.nrrd`` keeps it, and 3D Slicer then finds no such code); a SNOMED CT
    scheme not spelt ``"SCT"`` (designators are case-sensitive) or a SNOMED CT value that is not
    the concept's digits; a type without its category or a category without its type (the missing
    one was written as SNOMED CT "Tissue", wrong for a liver: see :data:`CATEGORY_REMEDY`); a
    modifier without the type or region it modifies (the ``.seg.nrrd`` kept it, the DICOM SEG
    dropped it); two spellings of one role with different codes (``typeModifier`` and ``modifier``:
    the writers kept the first and dropped the other without a word).

    Args:
        terminology: ``SegmentClass.terminology``: role -> (scheme, code value, code meaning).
    """
    if not isinstance(terminology, dict):
        return f"terminology {terminology!r} must be an object such as {{\"type\": {_EXAMPLE}}}."
    for key, code in terminology.items():
        if key not in _KEYS:
            return f"terminology key {key!r} is not a role; use one of {sorted(_KEYS)}."
        if (not isinstance(code, (tuple, list)) or len(code) != 3
                or not all(isinstance(part, str) and part.strip() for part in code)):
            return (f"terminology {key!r} must be [scheme, value, meaning], three non-empty strings such as "
                    f"{_EXAMPLE}, got {code!r}.")
        if any(part != part.strip() for part in code):
            return (f"terminology {key!r} {list(code)!r} has a part that begins or ends with whitespace; a DICOM SEG drops "
                    f"it and a .seg.nrrd keeps it. Write {[part.strip() for part in code]!r}.")
        if code[0].upper() == "SCT" and code[0] != "SCT":
            return f"terminology {key!r} scheme {code[0]!r} must be spelt \"SCT\" (coding schemes are case-sensitive)."
        if code[0] == "SCT" and not _DIGITS_RE.match(code[1]):
            return (f"terminology {key!r} SNOMED CT code value {code[1]!r} must be the concept's digits (order "
                    f"[scheme, value, meaning], e.g. {_EXAMPLE}), got {code!r}.")
    for role, aliases in ROLES.items():  # the writers read the first spelling only: the other code would be dropped
        given = [alias for alias in aliases if alias in terminology]
        if len({tuple(terminology[alias]) for alias in given}) > 1:
            return (f"terminology gives {' and '.join(repr(a) for a in given)}, spellings of one role with different "
                    f"codes ({', '.join(repr(list(terminology[a])) for a in given)}); only the first would be written. "
                    "Keep one of them.")
    coded = [role for role in ("category", "type") if terminology.get(role)]
    if len(coded) == 1:
        missing = "type" if coded[0] == "category" else "category"
        return f"terminology gives a {coded[0]} but no {missing}; DICOM SEG and 3D Slicer need both. {CATEGORY_REMEDY}"
    for modifier, role in (("type_modifier", "type"), ("region_modifier", "region")):  # the DICOM SEG dropped it
        given = [alias for alias in ROLES[modifier] if alias in terminology]
        if given and not any(alias in terminology for alias in ROLES[role]):
            return (f"terminology gives {given[0]!r} but no {role}; a modifier qualifies its {role} (a DICOM SEG cannot "
                    f"store it alone). Add the {role} it modifies (one of {list(ROLES[role])}), or remove {given[0]!r}.")
    return ""
