"""Names of SDSeg's segments in a chosen output segmentation that holds other segments (no Slicer).

A run writes one segment per model class, with the class's name (``liver``) under an SDSeg id
(``sdseg_1_liver``); segments of other ids (a person's own, drawn in the Segment Editor, or another
model's) are never touched. When one of those already has a class's name, SDSeg's segment is named apart,
``"liver (SDSeg)"``, so the segment list, the 3D view legend and a DICOM SEG export never show two
segments of one name, and :func:`name_clash_notes` tells the run's warnings which is which.

Names are compared by the engine's class-name rule (:func:`SDSegLogic.class_names.class_name_key`:
Unicode NFC, no surrounding whitespace, no case: ``Liver`` is ``liver``, and a name typed on macOS
in decomposed form, ``"pancre" + U+0301 + "as"``, is ``"pancréas"``), and in addition a run of inner
whitespace counts as one space. The engine's rule says which names are one class; this one says
which two segment names a reader cannot tell apart in the segment list, the 3D legend or a DICOM
SEG export, where ``"left  kidney"`` reads as ``"left kidney"``: erring towards naming SDSeg's
segment apart only adds ``" (SDSeg)"`` and a warning, while erring the other way shows two
segments of one name.

A class's segment id is made from its label value and its name as the card spells it
(:func:`segment_id`); a model update that only respells the class (``Liver`` -> ``liver``, NFD ->
NFC, a trailing space) finds the segment an earlier run wrote by the engine's rule
(:func:`matched_specs`) and updates it, instead of writing the class's second segment beside it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, Iterable, List, Sequence

from SDSegLogic.class_names import class_name_key

__all__ = ["result_segment_names", "name_clash_notes", "is_rule_name", "segment_id", "matched_specs", "SDSEG_SUFFIX"]

SDSEG_SUFFIX = " (SDSeg)"
"""Added to a class's name when a segment of another id already has it."""


def _key(name: str) -> str:
    """The key two segment names a reader cannot tell apart share (module docstring): NFC, no case, one space."""
    return " ".join(class_name_key(name).split())


def _other_segments(segmentation_node: Any, own_ids: Iterable[str]) -> Dict[str, str]:
    """id -> name of the node's segments whose id is not one of ``own_ids`` (SDSeg's ids for this card)."""
    own = set(own_ids)
    segmentation = segmentation_node.GetSegmentation()
    others = {}
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        if segment_id not in own:
            others[segment_id] = str(segmentation.GetNthSegment(index).GetName())
    return others


def segment_id(label_value: int, name: str) -> str:
    """The id of the segment a run writes a new class into: ``sdseg_1_liver`` (non-alphanumerics as ``_``)."""
    return f"sdseg_{int(label_value)}_" + "".join(ch if ch.isalnum() else "_" for ch in str(name))


def _rule_base(name: str) -> str:
    """``name`` without the suffix :func:`result_segment_names` may add (``" (SDSeg)"``, ``" (SDSeg 2)"``)."""
    text = str(name)
    if text.endswith(SDSEG_SUFFIX):
        return text[:-len(SDSEG_SUFFIX)]
    head, sep, tail = text.rpartition(" (SDSeg ")
    return head if sep and tail.endswith(")") and tail[:-1].isdigit() else text


def is_rule_name(name: str, class_name: str) -> bool:
    """Whether ``name`` is one :func:`result_segment_names` gives a class: ``liver``, ``liver (SDSeg)``, ``liver (SDSeg 2)``.

    The class's name is compared by the engine's rule (``Liver``, a decomposed or space-padded
    spelling: an earlier card's spelling of the class). A segment of such a name was named by SDSeg
    (a re-run may name it by the rule again); any other name was given by a person, and a
    slice-range re-run keeps it.
    """
    return class_name_key(_rule_base(name)) == class_name_key(class_name)


def matched_specs(segmentation_node: Any, specs: Sequence[Any]) -> List[Any]:
    """``specs`` with each class's ``segment_id`` set to the segment an earlier run wrote it into.

    A segment of the class's own id (:func:`segment_id`) is it. Otherwise an SDSeg segment of the
    same label value (``sdseg_<value>_...``) is, when its id was made from a spelling of the class
    that the engine's rule (:func:`~SDSegLogic.class_names.class_name_key`) calls one name with the
    card's: its id is :func:`segment_id` of its name (less an ``" (SDSeg)"`` suffix) and that name is
    the class's by the rule, or its id differs from the class's only in case (a person renamed it).

    Args:
        segmentation_node: the output segmentation node, or None (a new node: ``specs`` as they are).
        specs: :class:`~SDSegLib.segmentation_writer.SegmentSpec` list (``segment_id``, ``name``, ``label_value``).

    Returns:
        The specs, in their order, each with the id to write (a new class keeps its own).
    """
    if segmentation_node is None:
        return list(specs)
    segmentation = segmentation_node.GetSegmentation()
    present = {segmentation.GetNthSegmentID(i): str(segmentation.GetNthSegment(i).GetName())
               for i in range(segmentation.GetNumberOfSegments())}
    claimed = {spec.segment_id for spec in specs if spec.segment_id in present}
    matched = []
    for spec in specs:
        found = spec.segment_id if spec.segment_id in present else next(
            (sid for sid, name in present.items() if sid not in claimed and _same_class(sid, name, spec)), None)
        if found is not None and found != spec.segment_id:
            claimed.add(found)
            spec = replace(spec, segment_id=found)
        matched.append(spec)
    return matched


def _same_class(sid: str, name: str, spec: Any) -> bool:
    """Whether the segment ``sid`` named ``name`` is one an earlier run wrote ``spec``'s class into (:func:`matched_specs`)."""
    if not sid.startswith(f"sdseg_{int(spec.label_value)}_"):
        return False
    base = _rule_base(name)
    if sid == segment_id(spec.label_value, base) and class_name_key(base) == class_name_key(spec.name):
        return True
    return sid.casefold() == segment_id(spec.label_value, spec.name).casefold()


def result_segment_names(segmentation_node: Any, specs: Sequence[Any]) -> Dict[str, str]:
    """The name each of this run's segments gets in ``segmentation_node`` (None: a new node).

    Args:
        segmentation_node: the output segmentation node, or None.
        specs: the card's :class:`~SDSegLib.segmentation_writer.SegmentSpec` list (``segment_id``, ``name``).

    Returns:
        segment id -> the class's name, or ``"<name> (SDSeg)"`` (``"<name> (SDSeg 2)"``, ... when
        that is taken too) when a segment of another id has the class's name.
    """
    if segmentation_node is None:
        return {spec.segment_id: spec.name for spec in specs}
    taken = {_key(name) for name in _other_segments(segmentation_node, (s.segment_id for s in specs)).values()}
    names = {}
    for spec in specs:
        name, number = spec.name, 1
        while _key(name) in taken:
            number += 1
            name = f"{spec.name}{SDSEG_SUFFIX}" if number == 2 else f"{spec.name} (SDSeg {number - 1})"
        names[spec.segment_id] = name
    return names


def name_clash_notes(segmentation_node: Any, specs: Sequence[Any], skipped: Iterable[str] = ()) -> List[str]:
    """One warning per class whose name another segment of ``segmentation_node`` already has.

    Args:
        segmentation_node: the output segmentation node, or None (a new node: nothing to say).
        specs: the card's segment specs.
        skipped: segment ids this run does not write (an SDSeg segment a person worked on, kept as it is).
    """
    if segmentation_node is None:
        return []
    names = result_segment_names(segmentation_node, specs)
    others = _other_segments(segmentation_node, names)
    where, notes = segmentation_node.GetName(), []
    for spec in specs:
        if spec.segment_id in set(skipped) or names[spec.segment_id] == spec.name:
            continue
        for other_id, other_name in others.items():
            if _key(other_name) == _key(spec.name):
                notes.append(f"Segment '{other_name}' (id '{other_id}') of '{where}' is not from this run and was kept as "
                             f"it is; this run's '{spec.name}' is the segment '{names[spec.segment_id]}', so that the "
                             "two can be told apart.")
    return notes
