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

__all__ = ["MAX_CLASS_NAME", "breaks_lines", "class_name_key", "class_name_problem"]

_LINE_BREAKING = ("Cc", "Zl", "Zp")
"""Unicode categories refused in a class name: control characters (tab, CR, LF, NEL...) and the line and
paragraph separators U+2028/U+2029, which Unicode, Qt (Slicer's segment list) and ``str.splitlines`` break lines at."""

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


def breaks_lines(text: str) -> bool:
    """Whether ``text`` holds a control character or a line/paragraph separator (U+2028, U+2029).

    The one rule for text that must stay on one line: class names, and a card's model id and version.
    """
    return any(unicodedata.category(ch) in _LINE_BREAKING for ch in text)


def class_name_problem(name: str) -> str:
    """Why ``name`` cannot name a segment in every output format (a sentence with the remedy), or ``""``.

    A DICOM SEG stores the name as an LO value, whose leading and trailing spaces do not count
    (readers strip them), while a ``.seg.nrrd`` keeps them: ``"liver "`` would be ``"liver"`` in
    one file and ``"liver "`` in the other; an LO value holds at most 64 characters, so a longer
    name would be cut in the DICOM SEG only. Control characters (tab, line break) would be turned
    into spaces by both writers, and the line and paragraph separators U+2028/U+2029 kept as line breaks;
    a backslash separates the values of a DICOM element, so the DICOM SEG writes ``/`` for it; a lone
    surrogate (``"\\ud800"`` in JSON) cannot be written to any file.

    Args:
        name: the class name as the card gives it (a non-empty ``str``).

    Returns:
        The reason and its remedy as one sentence (the caller prefixes the file and the name), or ``""``.
    """
    if breaks_lines(name):
        return ("holds a control character or line break (tab, line break, U+2028/U+2029 line or paragraph "
                "separator...); the written segmentation would name the segment differently, or over two lines. "
                "Use printable text on one line.")
    if any(unicodedata.category(ch) == "Cs" for ch in name):
        return ("holds a lone surrogate (e.g. a JSON \\ud800 escape without its pair), which is not text: no output "
                "file can store it. Write the character itself, or both halves of its pair.")
    if "\\" in name:
        return ("holds a backslash; a DICOM SEG cannot store one in a segment label (it separates values) and writes "
                "'/', while a .seg.nrrd keeps it, so the segment would be named differently per output format. "
                f"Use '/' instead: {name.replace(chr(92), '/')!r}.")
    if name != name.strip():
        return (f"begins or ends with whitespace; a DICOM SEG drops it and a .seg.nrrd keeps it, so the segment would be "
                f"named differently per output format. Write the name without it: {name.strip()!r}.")
    if len(name) > MAX_CLASS_NAME:
        return (f"is {len(name)} characters long; a DICOM SEG segment label holds at most {MAX_CLASS_NAME} (it would be "
                f"cut to {name[:MAX_CLASS_NAME]!r} there, and kept whole in a .seg.nrrd). Shorten the name to at most "
                f"{MAX_CLASS_NAME} characters (the code meaning of its terminology may stay long).")
    return ""
