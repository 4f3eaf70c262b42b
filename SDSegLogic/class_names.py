"""How SDSeg compares the names of a model's classes, and which names a model card may give.

One rule for every place that matches class names: the card's own duplicate check
(:mod:`SDSegLogic.model_card`), ``sdseg models info`` (registry classes against the card's),
and the training package's export and held-out evaluation (card classes against ``data.classes``).
Two names are one name when they are equal after Unicode NFC normalisation (a name typed on
macOS may come decomposed, NFD: ``"e" + U+0301`` is ``"é"``), without surrounding whitespace and
without case (``str.casefold``: ``"Straße"`` is ``"STRASSE"``), as ``sdseg score`` pairs segments.
Inner whitespace counts (``"left kidney"`` is not ``"leftkidney"``).

Standard library only.
"""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_CLASS_NAME", "class_name_key", "class_name_problem"]

MAX_CLASS_NAME = 64
"""Characters of a class name: a DICOM SEG stores it as SegmentLabel, an LO value of at most 64 characters."""


def class_name_key(name: object) -> str:
    """The comparison key of a class name: NFC-normalised, stripped, case-folded.

    Args:
        name: a class name (anything else is compared as its ``str``).

    Returns:
        The key; two names are the same class name exactly when their keys are equal.
    """
    return unicodedata.normalize("NFC", str(name)).strip().casefold()


def class_name_problem(name: str) -> str:
    """Why ``name`` cannot name a segment in every output format (a sentence with the remedy), or ``""``.

    A DICOM SEG stores the name as an LO value, whose leading and trailing spaces do not count
    (readers strip them), while a ``.seg.nrrd`` keeps them: ``"liver "`` would be ``"liver"`` in
    one file and ``"liver "`` in the other; an LO value holds at most 64 characters, so a longer
    name would be cut in the DICOM SEG only. Control characters (tab, line break) would be turned
    into spaces by both writers.

    Args:
        name: the class name as the card gives it (a non-empty ``str``).

    Returns:
        The reason and its remedy as one sentence (the caller prefixes the file and the name), or ``""``.
    """
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return ("holds a control character (tab, line break...); the written segmentation would name the segment "
                "differently. Use printable text.")
    if name != name.strip():
        return (f"begins or ends with whitespace; a DICOM SEG drops it and a .seg.nrrd keeps it, so the segment would be "
                f"named differently per output format. Write the name without it: {name.strip()!r}.")
    if len(name) > MAX_CLASS_NAME:
        return (f"is {len(name)} characters long; a DICOM SEG segment label holds at most {MAX_CLASS_NAME} (it would be "
                f"cut to {name[:MAX_CLASS_NAME]!r} there, and kept whole in a .seg.nrrd). Shorten the name to at most "
                f"{MAX_CLASS_NAME} characters (the code meaning of its terminology may stay long).")
    return ""
