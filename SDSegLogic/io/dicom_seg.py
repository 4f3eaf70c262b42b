"""DICOM Segmentation (SEG) output, written with highdicom, for sending a result back to PACS.

A SEG references the instances it was derived from, so only a DICOM series input can produce one;
:func:`SDSegLogic.io.dicom_sources.load_dicom_sources` orders the source instances by slice.
What is written:

* one segment per model-card class (segment number = class position + 1, in card order), with
  its name, its colour (RecommendedDisplayCIELabValue, via highdicom's ``CIELabColor.from_rgb``;
  older highdicom releases without it write no colour) and its coded category/type/region
  (:func:`SDSegLogic.terminology.segment_codes`; SNOMED CT "Tissue" when the card codes none);
  algorithm type AUTOMATIC, identified as "SDSeg" version ``SDSegLogic.__version__``, family
  "Artificial Intelligence" (DCM 123110), with the model id/version, seed, steps and samples as
  parameters;
* BINARY frames, one per (slice, segment) that holds the segment: empty frames are omitted, so a
  slice without a frame for a segment is empty for it (slices outside ``--slices`` included). A
  result with no segment anywhere keeps every (empty) frame, so the file is still valid;
* each frame references the source instance of its slice and takes its plane position from it;
* new Series/SOP Instance UIDs, series number = source series number + 1000, the source's
  study and patient; "research use only, not for clinical use" in the SeriesDescription and
  ContentDescription: this is research software, not a medical device.

highdicom (MIT, Python >= 3.10, pydicom >= 3.0.1) is optional: ``pip install "sdseg[dicom]"``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, List, Optional, Sequence, Union

import numpy as np

from ..errors import InputError
from .atomic import atomic_output, check_output_path
from .dicom_sources import DicomSources

__all__ = ["DICOM_SEG_REMEDY", "require_highdicom", "write_dicom_seg", "segment_descriptions"]

logger = logging.getLogger(__name__)

DICOM_SEG_REMEDY = 'install it with pip install "sdseg[dicom]" (highdicom, Python >= 3.10)'
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "StudyDate",
          "StudyTime", "ReferringPhysicianName", "SliceThickness")
_LO_MAX = 64  # characters of a DICOM LO value (segment label, code meaning)
SERIES_DESCRIPTION = "SDSeg segmentation - research use only, not for clinical use"
_NOTICE = " - research use only"


def require_highdicom(output: Union[str, Path]) -> Any:
    """Import highdicom, or raise :class:`InputError` naming ``output`` and the remedy."""
    try:
        import highdicom
    except ImportError:
        raise InputError(f"{output}: writing a DICOM SEG needs the optional package highdicom, which is not "
                         f"installed; {DICOM_SEG_REMEDY}.") from None
    return highdicom


def _lo(text: object) -> str:
    """``text`` as a valid DICOM LO value: at most 64 characters, no control characters, no backslash.

    A backslash separates the values of a multi-valued element, so ``"a\\b"`` would be read back as
    two values; it becomes ``/``, as ``|`` does in the ``.seg.nrrd`` tags.
    """
    clean = "".join(" " if ch < " " or ch == "\x7f" else ch for ch in str(text)).replace("\\", "/")
    return clean[:_LO_MAX]


def _content_description(card: Any) -> str:
    """ContentDescription (LO): the model id and version, then the research-use notice, which a long id never cuts."""
    return _lo(f"{card.model_id} {card.version}")[:_LO_MAX - len(_NOTICE)] + _NOTICE


def _concept(hd: Any, code: Sequence[str]) -> Any:
    scheme, value, meaning = code
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=_lo(meaning))


def _colour(hd: Any, rgb) -> Optional[Any]:
    """CIELab display colour of an RGB colour in [0, 1], or ``None`` when highdicom cannot convert it."""
    from_rgb = getattr(getattr(getattr(hd, "color", None), "CIELabColor", None), "from_rgb", None)
    if from_rgb is None:
        return None
    return from_rgb(*(float(np.clip(c, 0.0, 1.0)) * 255.0 for c in rgb))


def segment_descriptions(card: Any, result: Any, hd: Any) -> List[Any]:
    """One ``highdicom.seg.SegmentDescription`` per class of ``card``, numbered 1.. in card order."""
    from .. import __version__
    from ..terminology import segment_codes

    parameters = {"model_id": card.model_id, "model_version": card.version,
                  "seed": str(getattr(result, "seed", "")),
                  "inference_steps": str(getattr(result, "num_inference_steps", "")),
                  "samples": str(getattr(result, "num_samples", ""))}
    algorithm = hd.AlgorithmIdentificationSequence(
        name="SDSeg", version=__version__, source="SDSeg (Lin et al., MICCAI 2024)",
        family=hd.sr.CodedConcept(value="123110", scheme_designator="DCM", meaning="Artificial Intelligence"),
        parameters=parameters,
    )
    descriptions = []
    for number, segment in enumerate(card.classes, start=1):
        codes = segment_codes(segment.terminology)
        description = hd.seg.SegmentDescription(
            segment_number=number, segment_label=_lo(segment.name),
            segmented_property_category=_concept(hd, codes["category"]),
            segmented_property_type=_concept(hd, codes["type"]),
            algorithm_type="AUTOMATIC", algorithm_identification=algorithm,
            anatomic_regions=[_concept(hd, codes["region"])] if codes["region"] else None,
            display_color=_colour(hd, segment.color),
        )
        if codes["type_modifier"]:
            description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
                _concept(hd, codes["type_modifier"])]
        if codes["region"] and codes["region_modifier"]:
            description.AnatomicRegionSequence[0].AnatomicRegionModifierSequence = [
                _concept(hd, codes["region_modifier"])]
        descriptions.append(description)
    return descriptions


def _complete_type2(datasets: Sequence[Any]) -> None:
    """Give the in-memory headers empty type-2 patient/study attributes that anonymised exports drop.

    highdicom copies these from the first source; the files on disk are never touched.
    """
    for ds in datasets:
        for keyword in _TYPE2:
            if keyword not in ds:
                setattr(ds, keyword, "")


def _declare_utf8(seg: Any, card: Any) -> None:
    """Declare UTF-8 (ISO_IR 192) when a text from the card is not ASCII.

    highdicom copies the source's SpecificCharacterSet; a series in the default repertoire (none
    declared) or in ISO_IR 100 cannot hold a name such as "Leber 肝": pydicom would write it
    undeclared or with "?" for each character it cannot encode. Patient and study values
    are stored decoded, so pydicom re-encodes them in UTF-8 too.
    """
    texts = [str(card.model_id), str(card.version)]
    for segment in card.classes:
        texts.append(str(segment.name))
        texts += [str(part) for code in (segment.terminology or {}).values() for part in code]
    declared = seg.get("SpecificCharacterSet") or ""
    declared = [declared] if isinstance(declared, str) else list(declared)
    if not all(text.isascii() for text in texts) and declared != ["ISO_IR 192"]:
        seg.SpecificCharacterSet = "ISO_IR 192"


def _segment_numbers(labels: np.ndarray, card: Any, path: Path) -> np.ndarray:
    """uint8 (K, J, I) segment numbers (1.. in card order, 0 background) from the card's label values."""
    lut = np.zeros(256, dtype=np.uint8)
    for number, segment in enumerate(card.classes, start=1):
        lut[segment.label_value] = number
    known = lut.astype(bool)
    known[0] = True
    if not known[labels].all():
        unknown = sorted(set(np.unique(labels).tolist()) - set(np.flatnonzero(known).tolist()))
        raise InputError(f"{path}: labels contain values {unknown} that model {card.model_id!r} does not declare "
                         f"({card.label_values()}); the result does not belong to this model card.")
    return lut[labels]


def write_dicom_seg(path: Union[str, Path], result: Any, card: Any, sources: DicomSources, *,
                    input_path: Optional[Union[str, Path]] = None) -> Path:
    """Write ``result`` as a DICOM SEG that references ``sources``.

    Args:
        path: destination (``.dcm``, e.g. ``ct.seg.dcm``); written atomically.
        result: a :class:`SDSegLogic.segment.SegmentationResult`: ``labels`` uint8 (K, J, I) with
            the card's label values on ``result.geometry`` (LPS).
        card: the :class:`SDSegLogic.model_card.ModelCard` that produced it.
        sources: from :func:`SDSegLogic.io.dicom_sources.load_dicom_sources` for the same image;
            ``sources.datasets[k]`` is referenced by the frames of slice ``k``.
        input_path: the segmented input; writing over it (or into its folder) is refused.

    Returns:
        The path written.

    Raises:
        InputError: highdicom missing or refusing the source headers, labels not in the card, or
            bad output path.
        GeometryError: ``sources`` were ordered for another grid.
    """
    hd = require_highdicom(path)
    path = check_output_path(path, input_path)
    sources.geometry.require_same(result.geometry, what=f"{path}: the DICOM source series")
    labels = np.asarray(result.labels)
    if labels.shape != result.geometry.array_shape or labels.shape[0] != len(sources.datasets):
        raise InputError(f"{path}: labels {labels.shape} (K, J, I) do not match the {len(sources.datasets)} source "
                         f"instances on grid {result.geometry.array_shape}.")
    if labels.dtype != np.uint8:
        if labels.min() < 0 or labels.max() > 255:
            raise InputError(f"{path}: label values {labels.min()}..{labels.max()} do not fit uint8.")
        labels = labels.astype(np.uint8)
    numbers = _segment_numbers(labels, card, path)
    with warnings.catch_warnings():  # the source's one-part PatientName is not the user's problem here
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
        try:
            seg = _build(hd, sources, numbers, card, result)
            _declare_utf8(seg, card)
        except (ValueError, TypeError, AttributeError) as exc:  # highdicom's refusals of the source headers
            raise InputError(f"{path}: highdicom cannot build a DICOM SEG on the series {sources.path} ({exc}); "
                             "write a .seg.nrrd instead, or re-export the series.") from None
    with atomic_output(path) as tmp:
        seg.save_as(str(tmp))
    logger.info("wrote %s (DICOM SEG, %d frames, %d segments)", path, int(seg.NumberOfFrames), len(card.classes))
    return path


def _build(hd: Any, sources: DicomSources, numbers: np.ndarray, card: Any, result: Any) -> Any:
    """The ``highdicom.seg.Segmentation`` of segment numbers (K, J, I) on ``sources`` (in slice order)."""
    from .. import __version__

    _complete_type2(sources.datasets)
    first = sources.datasets[0]
    return hd.seg.Segmentation(
        source_images=list(sources.datasets), pixel_array=numbers, segmentation_type="BINARY",
        segment_descriptions=segment_descriptions(card, result, hd),
        series_instance_uid=hd.UID(), series_number=int(getattr(first, "SeriesNumber", 0) or 0) + 1000,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="SDSeg",
        manufacturer_model_name=_lo(f"{card.model_id} {card.version}"), software_versions=f"sdseg {__version__}",
        device_serial_number=_lo(f"{card.model_id}@{card.version}"),
        content_label="SDSEG", content_description=_content_description(card),
        content_creator_name="SDSeg^", omit_empty_frames=bool(numbers.any()),
        series_description=SERIES_DESCRIPTION,
    )
