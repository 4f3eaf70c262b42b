"""Write an engine result into the Slicer scene: one segment per class, input never modified.

What a clinician gets (guarantees G6/G8 of the reliability notes):

* one segment per model class, named and coloured from the model card, with its standard
  terminology (SNOMED CT codes) stored as the segment's terminology tag, and the model id,
  version, seed, steps, samples and quality warnings as ``SDSeg.*`` segment tags (saved in
  ``.seg.nrrd``), the warnings also as the node attribute ``SDSeg.Warnings``;
* each run in its own, uniquely named node unless an output node is chosen; a chosen node made
  for a volume with another grid, or one that stores its segments as surfaces or contours, is
  refused before anything changes (:mod:`SDSegLib.output_checks`; so is one holding segments under
  another transform than the input, which writing would move), and a slice-range/ROI run into a chosen node replaces only the
  segmented slices of its segments;
* a segment a person has worked on is never overwritten: an SDSeg segment of a chosen node whose
  Segment Editor status is no longer "Not started" (In progress after an edit, Completed, Flagged)
  is kept as it is, with a warning that names it (:func:`kept_segment_notes`); segments made by
  the user (other ids) are never touched, whatever their names, and when one has a class's name,
  SDSeg's segment is named apart (``"liver (SDSeg)"``, :mod:`SDSegLib.segment_names`) with a warning;
* the labelmap is imported on the *input volume's* grid
  (``updateSegmentBinaryLabelmapFromArray(..., referenceVolumeNode=input)``);
* ``SetReferenceImageGeometryParameterFromVolumeNode(input)`` (needed for DICOM SEG export),
  the same parent transform as the input, and the same subject-hierarchy study.

The pure helpers (:func:`terminology_entry`, :func:`segment_specs`) are tested outside Slicer;
:func:`write_segmentation` needs ``slicer`` and is exercised by SDSegTest inside Slicer and by
``Testing/Python/test_slicer_logic.py`` against a minimal stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from SDSegLogic.errors import InputError
from SDSegLogic.terminology import ROLES as _KEYS  # the spellings a model card may use, shared with the engine's writers

from .card_classes import card_classes
from .output_checks import check_labelmap_source, check_output_volumes, check_same_grid, check_same_transform  # re-exported
from .segment_names import is_rule_name, matched_specs, name_clash_notes, result_segment_names, segment_id
from .volume_adapter import region_index

__all__ = ["SegmentSpec", "terminology_entry", "segment_specs", "write_segmentation", "write_result", "check_same_grid",
           "check_same_transform", "check_output_volumes", "check_labelmap_source", "kept_segment_notes", "TYPE_CONTEXT",
           "REGION_CONTEXT", "WARNINGS_ATTRIBUTE", "RUN_TAGS", "show_segmentation", "check_label_values"]

TYPE_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
REGION_CONTEXT = "Anatomic codes - DICOM master list"
WARNINGS_ATTRIBUTE = "SDSeg.Warnings"
"""Node attribute holding the run's quality warnings, one per line (saved with the scene)."""
RUN_TAGS = ("SDSeg.Seed", "SDSeg.Steps", "SDSeg.Samples", "SDSeg.Slices")  # of one run: a rewrite clears the old ones


@dataclass(frozen=True)
class SegmentSpec:
    """One segment to create: id, display name, RGB colour in [0, 1], label value, terminology entry."""

    segment_id: str
    name: str
    color: tuple
    label_value: int
    terminology: str


def _code(terminology: Mapping[str, Sequence[str]], key: str) -> str:
    for alias in _KEYS[key]:
        code = terminology.get(alias)
        if code:
            scheme, value, meaning = (str(part).replace("~", "-").replace("^", "-") for part in code)
            return f"{scheme}^{value}^{meaning}"
    return "^^"


def terminology_entry(terminology: Mapping[str, Sequence[str]]) -> str:
    """Model-card terminology -> Slicer's serialised terminology entry ('' when no type is coded).

    The format is vtkSlicerTerminologiesModuleLogic::SerializeTerminologyEntry's: seven ``~``
    separated fields (type context, category, type, type modifier, region context, region,
    region modifier), each code written ``scheme^value^meaning``.
    """
    if not terminology or not any(terminology.get(alias) for alias in _KEYS["type"]):
        return ""
    has_region = any(terminology.get(alias) for alias in _KEYS["region"])
    return "~".join([
        TYPE_CONTEXT, _code(terminology, "category"), _code(terminology, "type"), _code(terminology, "type_modifier"),
        REGION_CONTEXT if has_region else "", _code(terminology, "region"), _code(terminology, "region_modifier"),
    ])


def segment_specs(card: Mapping[str, Any]) -> List[SegmentSpec]:
    """Segments to create from a model card dict (``ModelCard.to_dict()`` or the engine's info).

    Raises:
        InputError: the card lists no classes, its ``classes`` is no list, or a class is malformed
            (:func:`~SDSegLib.card_classes.card_classes`: a ``name`` that is no text, a ``label_value``
            that is not a whole number 1..255 or is another class's, a ``color`` that is not three
            numbers in [0, 1], a terminology code that is not three parts; a remote engine's card, not
            checked when it arrived): naming the card, the class, the field and the value.
    """
    classes = card_classes(card)
    if not classes:
        raise InputError(f"model card {card.get('model_id', '?')!r} lists no classes; the model cannot produce segments.")
    return [SegmentSpec(segment_id(value, name), name, color, value, terminology_entry(terminology))
            for name, value, color, terminology in classes]


def check_label_values(labels: np.ndarray, specs: Sequence[SegmentSpec], card: Mapping[str, Any]) -> None:
    """Refuse ``labels`` holding a value that no class of the card has (0 is background).

    Such voxels would be dropped without a word: the engine's model and the card it sent disagree.

    Args:
        labels: uint8 label map, any shape (the result's ``(K, J, I)``).
        specs: the card's segments (:func:`segment_specs`).
        card: the model card dict, named in the message by its ``model_id``.

    Raises:
        InputError: naming up to 10 unknown values, their voxel count and the card's label values.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.uint8).ravel(), minlength=256)
    known = {0, *(spec.label_value for spec in specs)}
    unknown = [value for value in np.flatnonzero(counts).tolist() if value not in known]
    if unknown:
        raise InputError(f"the result holds label values {unknown[:10]} ({int(counts[unknown].sum())} voxels) that the model "
                         f"card {card.get('model_id', '?')!r} lists no classes for (label values {sorted(known - {0})}): the "
                         "engine's model and its card disagree. Nothing was written; update the engine and this "
                         "client to the same SDSeg version, or use a model whose card lists every class.")


def _worked_on(segment: Any) -> str:
    """The Segment Editor status of a segment a person has worked on (e.g. ``"Completed"``); ``""`` when Not started."""
    import slicer

    logic = slicer.vtkSlicerSegmentationsModuleLogic
    if not hasattr(logic, "GetSegmentStatus"):  # a Slicer before 5.0 has no segment status
        return ""
    status = logic.GetSegmentStatus(segment)
    return "" if status == logic.NotStarted else logic.GetSegmentStatusAsHumanReadableString(status)


def _kept_segments(segmentation_node: Optional[Any], specs: Sequence[SegmentSpec]) -> Dict[str, Tuple[Any, str]]:
    """segment id -> (segment, Segment Editor status) of each SDSeg segment a person worked on (read once per run)."""
    kept = {}
    for spec in specs if segmentation_node is not None else ():
        segment = segmentation_node.GetSegmentation().GetSegment(spec.segment_id)
        status = _worked_on(segment) if segment is not None else ""
        if status:
            kept[spec.segment_id] = (segment, status)
    return kept


def _notes(segmentation_node: Optional[Any], specs: Sequence[SegmentSpec], kept: Mapping[str, Tuple[Any, str]]) -> List[str]:
    """:func:`kept_segment_notes` of the segments ``kept`` (:func:`_kept_segments`)."""
    if segmentation_node is None:
        return []
    notes = [f"Segment '{kept[spec.segment_id][0].GetName()}' of '{segmentation_node.GetName()}' was kept as it is, not "
             f"replaced by this run's '{spec.name}': its status is '{kept[spec.segment_id][1]}' (edited or reviewed in the "
             "Segment Editor). To replace it, set its status to 'Not started', or choose 'Create new segmentation' as output."
             for spec in specs if spec.segment_id in kept]
    return notes + name_clash_notes(segmentation_node, specs, skipped=list(kept))


def kept_segment_notes(segmentation_node: Optional[Any], card: Mapping[str, Any]) -> List[str]:
    """One warning per segment of ``segmentation_node`` that a run must keep as it is, and names it.

    A segment whose Segment Editor status is not "Not started" was edited (Slicer sets In progress
    on its first edit), reviewed (Completed) or flagged by a person; a re-run must not replace it.
    A segment of another id (a person's own) that has a class's name is kept too, and the warning
    names the segment SDSeg writes instead (:func:`~SDSegLib.segment_names.name_clash_notes`).
    :func:`write_result` adds these notes to the run's warnings itself.

    Args:
        segmentation_node: the chosen output segmentation, or None (a new node: nothing to keep).
        card: model card dict (its classes give the segment ids SDSeg writes).
    """
    specs = matched_specs(segmentation_node, segment_specs(card))
    return _notes(segmentation_node, specs, _kept_segments(segmentation_node, specs))


def write_segmentation(labels: np.ndarray, card: Mapping[str, Any], input_volume: Any, segmentation_node: Optional[Any] = None,
                       tags: Optional[Dict[str, str]] = None, name: Optional[str] = None,
                       region: Optional[Tuple[int, int, int]] = None, warnings: Sequence[str] = ()) -> Any:
    """:func:`write_result`'s segmentation node (the same arguments)."""
    return write_result(labels, card, input_volume, segmentation_node, tags, name, region, warnings)[0]


def write_result(labels: np.ndarray, card: Mapping[str, Any], input_volume: Any, segmentation_node: Optional[Any] = None,
                 tags: Optional[Dict[str, str]] = None, name: Optional[str] = None,
                 region: Optional[Tuple[int, int, int]] = None, warnings: Sequence[str] = ()) -> Tuple[Any, List[str]]:
    """Put ``labels`` into a segmentation node (created when ``segmentation_node`` is None).

    Args:
        labels: uint8 (K, J, I) on the input volume's grid; values are the card's label values.
        card: model card dict.
        input_volume: the vtkMRMLScalarVolumeNode/vtkMRMLVectorVolumeNode that was segmented.
        segmentation_node: an existing node to update, or None for a new one. Its SDSeg segments
            are replaced (other segments are kept; a class whose name one of them has is written
            as ``"<name> (SDSeg)"``, with a warning); with ``region``, only the segmented slices
            of each existing SDSeg segment are replaced and the rest of the segment is kept. An
            SDSeg segment a person worked on (:func:`kept_segment_notes`) is left untouched and
            its warning added to ``warnings``.
        tags: extra ``SDSeg.*`` tags stored on every segment (seed, steps, samples...).
        name: name of a new node (default ``"<input> SDSeg"``, made unique in the scene).
        region: ``(axis, start, stop)``: only slices ``start..stop-1`` across voxel axis ``axis``
            (0=i, 1=j, 2=k) were segmented; None when the whole volume was.
        warnings: the run's quality warnings, stored as the node attribute ``SDSeg.Warnings``
            (one per line) and the segment tag ``SDSeg.Warnings``.

    Returns:
        (the segmentation node, the warnings it was stored with: ``warnings`` followed by the
        :func:`kept_segment_notes` not already among them).

    Raises:
        InputError: ``labels`` do not fit the input or hold a value no class of the card has, the card's classes are
            malformed (:func:`segment_specs`), or ``segmentation_node`` belongs to a volume
            with another grid, holds segments under another transform than the input or stores its
            segments as surfaces or contours (it is then left untouched).
    """
    image = input_volume.GetImageData()
    k, j, i = image.GetDimensions()[2], image.GetDimensions()[1], image.GetDimensions()[0]
    if labels.shape != (k, j, i):
        raise InputError(f"labels shape {labels.shape} does not match the input volume (K, J, I) = {(k, j, i)}.")
    specs = segment_specs(card)  # a malformed card or labels it does not know: refused before anything changes
    check_label_values(labels, specs, card)
    if segmentation_node is not None:
        check_same_grid(segmentation_node, input_volume)
        check_same_transform(segmentation_node, input_volume)
        check_labelmap_source(segmentation_node)
    else:
        segmentation_node = _new_segmentation_node(name or f"{input_volume.GetName()} SDSeg")
        region = None  # nothing to keep in a new node
    specs = matched_specs(segmentation_node, specs)  # a class an earlier card spelt otherwise: its segment is updated
    segmentation_node.SetAndObserveTransformNodeID(input_volume.GetTransformNodeID())
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(input_volume)
    all_tags = {"SDSeg.ModelId": str(card.get("model_id", "")), "SDSeg.ModelVersion": str(card.get("version", ""))}
    all_tags.update({f"SDSeg.{key}": str(value) for key, value in (tags or {}).items()})
    kept = _kept_segments(segmentation_node, specs)  # a person's work: kept as it is, with a note in the warnings
    warnings = list(warnings)
    warnings += [note for note in _notes(segmentation_node, specs, kept) if note not in warnings]
    all_tags["SDSeg.Warnings"] = "; ".join(_tag_safe(w) for w in warnings)
    names = result_segment_names(segmentation_node, specs)  # apart from a person's segment of a class's name
    wasModified = segmentation_node.StartModify()
    try:
        for spec in specs:
            if spec.segment_id in kept:
                continue
            _write_segment(segmentation_node, replace(spec, name=names[spec.segment_id]), labels, input_volume, all_tags,
                           region_index(region), renamed=names[spec.segment_id] != spec.name, class_name=spec.name)
        if warnings:
            segmentation_node.SetAttribute(WARNINGS_ATTRIBUTE, "\n".join(str(w) for w in warnings))
        else:
            segmentation_node.RemoveAttribute(WARNINGS_ATTRIBUTE)
    finally:
        segmentation_node.EndModify(wasModified)
    _place_in_subject_hierarchy(segmentation_node, input_volume)
    return segmentation_node, warnings


def show_segmentation(node: Any) -> Any:
    """Give a chosen output segmentation its default display nodes when it has none; returns ``node``.

    A segmentation node made by a script (``slicer.mrmlScene.AddNewNodeByClass``) has no display
    node, and Slicer draws none of its segments until it has one. Called for the node a run's
    result went to (not for the temporary nodes a sequence run writes its time points into).
    """
    if node is not None and node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def _new_segmentation_node(name: str) -> Any:
    """A new segmentation node with display nodes, named uniquely (each run keeps its own node)."""
    import slicer

    scene = slicer.mrmlScene
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(name))
    node.CreateDefaultDisplayNodes()
    return node


def _write_segment(node: Any, spec: SegmentSpec, labels: np.ndarray, input_volume: Any, tags: Mapping[str, str],
                   region: Optional[Tuple[slice, ...]], renamed: bool = False, class_name: str = "") -> None:
    """Create or update one class's segment, in place (its list position, colour and display settings stay).

    With ``region`` an existing segment is kept outside it, with the name a person gave it; without,
    its voxels, name, terminology and run tags (:data:`RUN_TAGS`) are replaced. ``renamed``:
    ``spec.name`` is the class's name made distinct from another segment's; an existing segment
    updated in ``region`` then takes it too, as it does when its name is one SDSeg gave the class
    (``class_name``, :func:`~SDSegLib.segment_names.is_rule_name`: "liver (SDSeg)" becomes "liver"
    again once no other segment is called "liver").
    """
    import slicer

    segmentation = node.GetSegmentation()
    mask = (labels == spec.label_value).astype(np.uint8)
    segment = segmentation.GetSegment(spec.segment_id)
    if region is not None and segment is not None:
        kept = slicer.util.arrayFromSegmentBinaryLabelmap(node, spec.segment_id, input_volume)
        if kept is not None and kept.shape == mask.shape:
            merged = (kept > 0).astype(np.uint8)
            merged[region] = mask[region]
            mask = merged
        if renamed or is_rule_name(segment.GetName(), class_name or spec.name):
            segment.SetName(spec.name)
    elif segment is not None:  # replaced in place: it keeps its place in the list, colour and display settings
        segment.SetName(spec.name)
        for key in [segment.GetTerminologyEntryTagName(), *RUN_TAGS]:  # e.g. the Slices of an earlier range run
            segment.RemoveTag(key)
        if spec.terminology:
            segment.SetTag(segment.GetTerminologyEntryTagName(), spec.terminology)
    else:
        segmentation.AddEmptySegment(spec.segment_id, spec.name, list(spec.color))
        segment = segmentation.GetSegment(spec.segment_id)
        if spec.terminology:
            segment.SetTag(segment.GetTerminologyEntryTagName(), spec.terminology)
    for key, value in tags.items():
        segment.SetTag(key, value)
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask, node, spec.segment_id, input_volume)


def _tag_safe(text: str) -> str:
    """A warning as a segment tag value: one line, without the ``|`` that separates tags in .seg.nrrd."""
    return " ".join(str(text).split()).replace("|", "/")


def _place_in_subject_hierarchy(node: Any, reference: Any) -> None:
    """Parent ``node`` under the folder/study that holds ``reference`` (no-op without SH)."""
    import slicer

    sh = slicer.mrmlScene.GetSubjectHierarchyNode() if hasattr(slicer.mrmlScene, "GetSubjectHierarchyNode") else None
    if sh is None:
        sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    if sh is None:
        return
    reference_item = sh.GetItemByDataNode(reference)
    node_item = sh.GetItemByDataNode(node)
    if reference_item and node_item:
        sh.SetItemParent(node_item, sh.GetItemParent(reference_item))
