"""Write an engine result into the Slicer scene: one segment per class, input never modified.

What a clinician gets (guarantees G6/G8 of the reliability notes):

* one segment per model class, named and coloured from the model card, with its standard
  terminology (SNOMED CT codes) stored as the segment's terminology tag, and the model id,
  version, seed, steps and samples as ``SDSeg.*`` segment tags (saved in ``.seg.nrrd``);
* the labelmap is imported on the *input volume's* grid
  (``updateSegmentBinaryLabelmapFromArray(..., referenceVolumeNode=input)``);
* ``SetReferenceImageGeometryParameterFromVolumeNode(input)`` (needed for DICOM SEG export),
  the same parent transform as the input, and the same subject-hierarchy study.

The pure helpers (:func:`terminology_entry`, :func:`segment_specs`) are tested outside Slicer;
:func:`write_segmentation` needs ``slicer`` and is exercised by SDSegTest inside Slicer and by
``Testing/Python/test_slicer_logic.py`` against a minimal stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from SDSegLogic.errors import InputError

__all__ = ["SegmentSpec", "terminology_entry", "segment_specs", "write_segmentation", "TYPE_CONTEXT", "REGION_CONTEXT"]

TYPE_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
REGION_CONTEXT = "Anatomic codes - DICOM master list"
_KEYS = {
    "category": ("category",),
    "type": ("type",),
    "type_modifier": ("type_modifier", "typeModifier", "modifier"),
    "region": ("region", "anatomic_region", "anatomicRegion"),
    "region_modifier": ("region_modifier", "regionModifier", "anatomic_region_modifier"),
}


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
    """Segments to create from a model card dict (``ModelCard.to_dict()`` or the engine's info)."""
    classes = card.get("classes") or []
    if not classes:
        raise InputError(f"model card {card.get('model_id', '?')!r} lists no classes; the model cannot produce segments.")
    specs = []
    for cls in classes:
        name = str(cls["name"])
        color = tuple(float(c) for c in cls.get("color", (0.5, 0.5, 0.5)))
        safe = "".join(ch if ch.isalnum() else "_" for ch in name)
        specs.append(SegmentSpec(f"sdseg_{int(cls['label_value'])}_{safe}", name, color, int(cls["label_value"]),
                                 terminology_entry(cls.get("terminology") or {})))
    return specs


def write_segmentation(labels: np.ndarray, card: Mapping[str, Any], input_volume: Any, segmentation_node: Optional[Any] = None,
                       tags: Optional[Dict[str, str]] = None, name: Optional[str] = None) -> Any:
    """Put ``labels`` into a segmentation node (created when ``segmentation_node`` is None).

    Args:
        labels: uint8 (K, J, I) on the input volume's grid; values are the card's label values.
        card: model card dict.
        input_volume: the vtkMRMLScalarVolumeNode/vtkMRMLVectorVolumeNode that was segmented.
        segmentation_node: an existing node to update (its SDSeg segments are replaced, other
            segments are kept), or None for a new one.
        tags: extra ``SDSeg.*`` tags stored on every segment (seed, steps, samples...).
        name: name of a new node (default ``"<input> SDSeg"``).

    Returns:
        The segmentation node.
    """
    import slicer

    image = input_volume.GetImageData()
    k, j, i = image.GetDimensions()[2], image.GetDimensions()[1], image.GetDimensions()[0]
    if labels.shape != (k, j, i):
        raise InputError(f"labels shape {labels.shape} does not match the input volume (K, J, I) = {(k, j, i)}.")
    scene = slicer.mrmlScene
    if segmentation_node is None:
        segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name or f"{input_volume.GetName()} SDSeg")
        segmentation_node.CreateDefaultDisplayNodes()
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(input_volume)
    segmentation_node.SetAndObserveTransformNodeID(input_volume.GetTransformNodeID())
    segmentation = segmentation_node.GetSegmentation()
    all_tags = {"SDSeg.ModelId": str(card.get("model_id", "")), "SDSeg.ModelVersion": str(card.get("version", ""))}
    all_tags.update({f"SDSeg.{key}": str(value) for key, value in (tags or {}).items()})
    wasModified = segmentation_node.StartModify()
    try:
        for spec in segment_specs(card):
            if segmentation.GetSegment(spec.segment_id) is not None:
                segmentation.RemoveSegment(spec.segment_id)
            segmentation.AddEmptySegment(spec.segment_id, spec.name, list(spec.color))
            segment = segmentation.GetSegment(spec.segment_id)
            if spec.terminology:
                segment.SetTag(segment.GetTerminologyEntryTagName(), spec.terminology)
            for key, value in all_tags.items():
                segment.SetTag(key, value)
            mask = (labels == spec.label_value).astype(np.uint8)
            slicer.util.updateSegmentBinaryLabelmapFromArray(mask, segmentation_node, spec.segment_id, input_volume)
    finally:
        segmentation_node.EndModify(wasModified)
    _place_in_subject_hierarchy(segmentation_node, input_volume)
    return segmentation_node


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
