"""The classes of a model card an engine sent, checked before any segment is made of them (no Slicer).

A card read on this computer was checked by its loader (:mod:`SDSegLogic.model_card`); the card a
(remote) engine sends in its ``info`` reply was not. These checks hold it to the loader's rules for
what the panel's writer uses: ``classes`` is a list of objects, each with a ``name`` text, a
``label_value`` 1..255 no other class has, a ``color`` of three numbers in [0, 1] (grey, the
loader's default, when it has none) and a ``terminology`` object whose codes are
``[scheme, value, meaning]`` (what the writer reads; the loader's finer rules on codes,
:func:`SDSegLogic.terminology.terminology_problem`, are left to the engine's own loader, so that a
card an earlier engine wrote its segments from is not refused now). Before, ``classes`` given as one object was
written as one class, a colour of 0..255 values, of two numbers or NaN went into the segment, and a
text colour or a two-part code ended in a bare ``ValueError``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple

from SDSegLogic.errors import InputError
from SDSegLogic.json_values import is_finite_number

__all__ = ["CardClass", "card_classes", "DEFAULT_COLOR"]

DEFAULT_COLOR = (0.5, 0.5, 0.5)
"""A class's colour when its card gives none (as :mod:`SDSegLogic.model_card` reads it)."""

_REMEDY = "the engine's model card is malformed; use a model (or an engine of this SDSeg version) with a valid card."

CardClass = Tuple[str, int, Tuple[float, float, float], Dict[str, Any]]
"""(name, label value, RGB colour in [0, 1], terminology) of one class."""


def card_classes(card: Mapping[str, Any]) -> List[CardClass]:
    """The classes of a model card dict (``ModelCard.to_dict()`` or an engine's ``model_card``), checked.

    Args:
        card: the card; its ``model_id`` names it in errors.

    Returns:
        One :data:`CardClass` per entry of ``card["classes"]``, in order (``[]`` when it has none).

    Raises:
        InputError: ``classes`` is not a list, or an entry is malformed: naming the card, the entry
            (``classes[0] ('liver')``), the field and its value.
    """
    classes = card.get("classes")
    if classes is None:
        return []
    if not isinstance(classes, list):
        raise InputError(f"model card {card.get('model_id', '?')!r}: classes {str(classes)[:80]!r} is not a list of "
                         f"class objects (name, label_value, color); {_REMEDY}")
    found: List[CardClass] = []
    for index, entry in enumerate(classes):
        found.append(_card_class(card, index, entry, [value for _, value, _, _ in found]))
    return found


def _card_class(card: Mapping[str, Any], index: int, entry: Any, taken: Sequence[int]) -> CardClass:
    """``classes[index]`` of ``card`` as a :data:`CardClass`; InputError naming a malformed field."""
    where = f"model card {card.get('model_id', '?')!r}: classes[{index}]"
    if not isinstance(entry, Mapping):
        raise InputError(f"{where} is {str(entry)[:80]!r}, not a class object (name, label_value); {_REMEDY}")
    name, value = entry.get("name"), entry.get("label_value")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where} has name {str(name)[:80]!r}, not a text; {_REMEDY}")
    where = f"{where} ({name!r})"
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 255 or value in taken:
        why = "another class's" if value in taken and not isinstance(value, bool) else "not a whole number 1..255"
        raise InputError(f"{where} has label_value {str(value)[:40]!r}, {why}; {_REMEDY}")
    color = entry.get("color", DEFAULT_COLOR)
    if (not isinstance(color, (list, tuple)) or len(color) != 3
            or not all(is_finite_number(c) and 0.0 <= float(c) <= 1.0 for c in color)):
        raise InputError(f"{where} has color {str(color)[:80]!r}, not three numbers in [0, 1] (red, green, blue, "
                         f"e.g. [0.9, 0.3, 0.2]); {_REMEDY}")
    terminology = entry.get("terminology") or {}
    bad = _bad_code(terminology)
    if bad:
        raise InputError(f"{where} has terminology {str(terminology)[:120]!r}, not an object of role -> [scheme, value, "
                         f"meaning] (e.g. {{\"type\": [\"SCT\", \"10200004\", \"Liver\"]}}): {bad}; {_REMEDY}")
    return name, int(value), (float(color[0]), float(color[1]), float(color[2])), dict(terminology)


def _bad_code(terminology: Any) -> str:
    """What the writer cannot read in a class's ``terminology`` (``""``: nothing; an empty code is no code)."""
    if not isinstance(terminology, Mapping):
        return "it is no object"
    for role, code in terminology.items():
        if code and (not isinstance(code, (list, tuple)) or len(code) != 3):
            return f"{str(role)[:40]!r} is {str(code)[:60]!r}"
    return ""
