"""Coded terminology of a model-card class, normalised for every writer that stores codes.

A model card's ``terminology`` maps a role to ``(coding scheme, code value, code meaning)``, e.g.
``{"category": ("SCT", "123037004", "Anatomical Structure"), "type": ("SCT", "10200004", "Liver")}``.
Cards written by hand use several spellings of the optional roles (``typeModifier`` /
``type_modifier``, ``anatomicRegion`` / ``region`` ...); :func:`segment_codes` accepts them all,
as the Slicer writer does, and fills the two codes DICOM requires (category and type) with
SNOMED CT "Tissue" when the card gives none, as the ``.seg.nrrd`` writer does.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Tuple

__all__ = ["Code", "DEFAULT_CODE", "ROLES", "segment_codes"]

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
