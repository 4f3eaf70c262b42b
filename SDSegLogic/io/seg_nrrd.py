"""3D Slicer segmentation files (``.seg.nrrd``): header fields, writing and validation.

Format (Slicer ``Docs/developer_guide/modules/segmentations.md``, read by ``slicerio``): a 3-D
uint8 labelmap in LPS with one shared layer, plus per-segment ``SegmentN_*`` key/value fields::

    Segment0_ID:=Segment_1
    Segment0_Name:=liver
    Segment0_Color:=0.86 0.5 0.4
    Segment0_LabelValue:=1
    Segment0_Layer:=0
    Segment0_Extent:=0 I-1 0 J-1 0 K-1          (the layer's extent, the same for every segment of it)
    Segment0_Tags:=Segmentation.Status:completed|TerminologyEntry:<ctx>~<cat>~<type>~<mod>~<anat ctx>~<region>~<mod>|...|

3D Slicer (``vtkMRMLSegmentationStorageNode::ReadBinaryLabelmapRepresentation``) crops each layer
to the ``Extent`` of the FIRST segment listed in it, for every segment of that layer, as its own
writer gives every segment of a shared layer the layer's extent. So every segment gets the whole
image extent (``"0 -1 0 -1 0 -1"`` only when the layer holds no foreground at all): a segment's
own bounding box would crop the others away, and an empty first class would empty them all.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Mapping

import numpy as np

from ..errors import InputError
from ..terminology import segment_codes

__all__ = ["terminology_string", "segment_extent", "layer_extent", "seg_nrrd_fields", "write_seg_nrrd",
           "validate_seg_header"]

_CATEGORY_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
_ANATOMY_CONTEXT = "Anatomic codes - DICOM master list"
_EMPTY = ("", "", "")


def _tag_text(value: object) -> str:
    """Tag values may not contain the separators of the Tags field."""
    return str(value).replace("|", "/").replace("\n", " ")


def terminology_string(terminology: Mapping[str, tuple]) -> str:
    """Slicer ``TerminologyEntry`` string from a model-card terminology dict.

    Args:
        terminology: keys ``category``, ``type``, optional ``typeModifier``, ``anatomicRegion``,
            ``anatomicRegionModifier`` (or any other spelling :func:`SDSegLogic.terminology.segment_codes`
            accepts, as the DICOM SEG and Slicer writers do); each value (scheme, code value, code meaning).

    Returns:
        ``"<context>~SCT^..^..~SCT^..^..~^^~<anatomic context>~^^~^^"`` (7 ``~``-separated parts).
    """
    codes = segment_codes(terminology)

    def code(role: str) -> str:
        value = codes[role] or _EMPTY
        return "^".join(_tag_text(v).replace("~", "-").replace("^", "-") for v in value)

    return "~".join([
        _CATEGORY_CONTEXT,
        code("category"),
        code("type"),
        code("type_modifier"),
        _ANATOMY_CONTEXT,
        code("region"),
        code("region_modifier"),
    ])


def segment_extent(labels: np.ndarray, value: int) -> List[int]:
    """Inclusive voxel extent ``[i0, i1, j0, j1, k0, k1]`` of ``labels == value``; ``[0,-1]*3`` if absent.

    Args:
        labels: (K, J, I) integer array.
    """
    mask = np.asarray(labels) == value
    ks = np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))
    if ks.size == 0:
        return [0, -1, 0, -1, 0, -1]
    # Project the slabs that hold the segment instead of listing every voxel (np.nonzero): same
    # extent, without index arrays of the segment's size.
    plane = mask[ks[0]:ks[-1] + 1].any(axis=0)  # (J, I)
    js, is_ = np.flatnonzero(plane.any(axis=1)), np.flatnonzero(plane.any(axis=0))
    return [int(is_[0]), int(is_[-1]), int(js[0]), int(js[-1]), int(ks[0]), int(ks[-1])]


def layer_extent(labels: np.ndarray) -> List[int]:
    """``Extent`` of every segment of the shared layer ``labels`` (K, J, I): ``[0, I-1, 0, J-1, 0, K-1]``.

    ``[0, -1, 0, -1, 0, -1]`` (Slicer's empty extent) when no voxel is foreground. Slicer reads the
    whole layer with the extent of its first segment, so this must hold every segment's voxels
    (see the module docstring); the full extent also keeps the reference grid when Slicer saves
    the segmentation again.
    """
    if not np.asarray(labels).any():
        return [0, -1, 0, -1, 0, -1]
    k, j, i = np.asarray(labels).shape
    return [0, i - 1, 0, j - 1, 0, k - 1]


def seg_nrrd_fields(labels: np.ndarray, card: Any, result: Any) -> "OrderedDict[str, str]":
    """All custom header fields of a ``.seg.nrrd`` for ``labels`` (K, J, I) and a model card."""
    fields: "OrderedDict[str, str]" = OrderedDict()
    provenance = {
        "SDSeg.ModelId": card.model_id,
        "SDSeg.ModelVersion": card.version,
        "SDSeg.Seed": getattr(result, "seed", ""),
        "SDSeg.InferenceSteps": getattr(result, "num_inference_steps", ""),
        "SDSeg.Samples": getattr(result, "num_samples", ""),
    }
    extent = " ".join(str(v) for v in layer_extent(labels))
    for index, segment in enumerate(card.classes):
        prefix = f"Segment{index}_"
        tags = ["Segmentation.Status:completed", "TerminologyEntry:" + terminology_string(segment.terminology)]
        tags += [f"{key}:{_tag_text(value)}" for key, value in provenance.items()]
        fields[prefix + "Color"] = " ".join(repr(float(c)) for c in segment.color)
        fields[prefix + "ColorAutoGenerated"] = "0"
        fields[prefix + "Extent"] = extent
        fields[prefix + "ID"] = f"Segment_{segment.label_value}"
        fields[prefix + "LabelValue"] = str(int(segment.label_value))
        fields[prefix + "Layer"] = "0"
        fields[prefix + "Name"] = segment.name
        fields[prefix + "NameAutoGenerated"] = "0"
        fields[prefix + "Tags"] = "|".join(tags) + "|"
    fields["Segmentation_ContainedRepresentationNames"] = "Binary labelmap|"
    fields["Segmentation_MasterRepresentation"] = "Binary labelmap"
    fields["Segmentation_ReferenceImageExtentOffset"] = "0 0 0"
    for key, value in provenance.items():
        fields[key.replace(".", "_")] = str(value)
    notes = getattr(result, "warnings", ()) or ()
    if notes:
        fields["SDSeg_Warnings"] = " | ".join(str(n) for n in notes)
    return fields


def write_seg_nrrd(path: Path, labels: np.ndarray, geometry: Any, card: Any, result: Any) -> None:
    """Write ``labels`` (K, J, I) uint8 as a Slicer segmentation, then read the header back and validate it."""
    import nrrd

    from ._nrrd_write import write_nrrd

    write_nrrd(path, labels.astype(np.uint8, copy=False), geometry, seg_nrrd_fields(labels, card, result))
    validate_seg_header(nrrd.read_header(str(path)), str(path))


def validate_seg_header(header: Mapping[str, Any], source: str = "segmentation") -> List[Dict[str, Any]]:
    """Check a ``.seg.nrrd`` header (row 25 of the edge-case table) and return its segments.

    Checks: space LPS/RAS, kinds, unique IDs, label value > 0 and unique per layer, layer index
    inside the list axis, colour components in [0, 1], extent inside the image.

    Raises:
        InputError: naming the segment index and the offending value.
    """
    space = str(header.get("space", "")).lower()
    if space not in ("left-posterior-superior", "right-anterior-superior"):
        raise InputError(f"{source}: space {header.get('space')!r} must be left-posterior-superior or "
                         "right-anterior-superior.")
    kinds = [str(k) for k in header.get("kinds", [])]
    sizes = [int(s) for s in header.get("sizes", [])]
    if kinds == ["domain"] * 3:
        layers, spatial = 1, sizes
    elif kinds == ["list", "domain", "domain", "domain"]:
        layers, spatial = sizes[0], sizes[1:]
    else:
        raise InputError(f"{source}: kinds {kinds} must be 'domain domain domain' or 'list domain domain domain'.")
    raw: Dict[int, Dict[str, str]] = {}
    for key, value in header.items():
        if key.startswith("Segment") and "_" in key and key[7:key.index("_")].isdigit():
            raw.setdefault(int(key[7:key.index("_")]), {})[key[key.index("_") + 1:]] = str(value)
    segments, ids, used = [], set(), set()
    for index in sorted(raw):
        f = raw[index]
        where = f"{source}: Segment{index}"
        seg_id = f.get("ID", "")
        if not seg_id or seg_id in ids:
            raise InputError(f"{where}_ID {seg_id!r} is missing or duplicated; every segment needs a unique ID.")
        ids.add(seg_id)
        try:
            value = int(f.get("LabelValue", "1"))
            layer = int(f.get("Layer", "0"))
            color = [float(c) for c in f.get("Color", "0.5 0.5 0.5").split()]
            extent = [int(v) for v in f.get("Extent", "0 -1 0 -1 0 -1").split()]
        except ValueError as exc:
            raise InputError(f"{where}: malformed number ({exc}); fix the header.") from None
        if value <= 0 or (layer, value) in used:
            raise InputError(f"{where}_LabelValue {value} must be > 0 and unique within layer {layer}.")
        used.add((layer, value))
        if not 0 <= layer < layers:
            raise InputError(f"{where}_Layer {layer} is outside 0..{layers - 1}.")
        if len(color) != 3 or not all(0.0 <= c <= 1.0 for c in color):
            raise InputError(f"{where}_Color {color} must be three numbers in [0, 1].")
        if len(extent) != 6:
            raise InputError(f"{where}_Extent {extent} must have six numbers.")
        for axis in range(3):
            lo, hi = extent[2 * axis], extent[2 * axis + 1]
            if hi >= lo and not (0 <= lo and hi < spatial[axis]):
                raise InputError(f"{where}_Extent {extent} lies outside the image (sizes {spatial}).")
        segments.append({"id": seg_id, "name": f.get("Name", seg_id), "labelValue": value, "layer": layer,
                         "color": color, "extent": extent})
    return segments
