"""``sdseg score``: compare a segmentation with a reference (Dice, IoU, HD95, ASSD, volumes).

For the researcher who checks SDSeg's masks against their own annotations. Both files must lie on
the same voxel grid in patient space: a reference stored in another axis order or direction (a
NIfTI in RAS beside an NRRD in LPS) is permuted and flipped onto the prediction's grid exactly,
never resampled; a file that is a crop of the other's grid (Slicer's "crop to minimum extent") is
placed on it, background outside; a reference on another grid is refused with both grids and the remedy
(:mod:`SDSegLogic.score_grid`). A DICOM SEG, which has no grid of its own, is placed on the other file's grid
(:mod:`SDSegLogic.io.dicom_seg_read`), or on that grid's lattice where its pixels reach beyond a cropped
``.seg.nrrd``; frames off that lattice are refused, naming both files and grids. A SEG with frames on one slice
in N of the lattice only that states a slice spacing (SpacingBetweenSlices, else SliceThickness) of N times the
lattice's was drawn on a series of thicker slices and says nothing of the slices between: both files are scored
on its slices only, as on that series (the grid reported has N times the slice spacing; distances and volumes
follow it), with a warning saying so. Without that statement (drawn on every few slices of this series, or two
lesions far apart) the slices between count as background, with a warning. Scored against a DICOM series it was
not made for (its ReferencedSeriesSequence), it is scored with a warning. Warnings reach the report, the table
and the CSV. A folder that is a DICOM series is one labelmap. Scores follow
:mod:`SDSegLogic.overlap_metrics` (MONAI's conventions; both masks empty: Dice and IoU 1, as training's
metrics), per segment, in mm and mL; in pixels when either file is a picture (PNG, JPEG, TIFF, BMP), which stores
no pixel size (with a warning saying so), and a picture of another size than the other file is refused.

Segments are paired by name when both files carry names (two ``.seg.nrrd``; names compare
case-insensitively and Unicode-normalised), else by label value; ``--pair PRED=REF`` (names or
values, repeatable) pairs them explicitly, e.g.
``--pair liver=5`` against a TotalSegmentator labelmap; ``+`` joins segments into one
(``--pair "lungs=left lung+right lung"``). Segments without a partner are listed, not scored: an
unannotated class is not a miss. A labelmap, though, lists only the values it holds, so a value it
lacks is an empty segment: a reference segment missing from a labelmap prediction is scored as a
miss (Dice 0), and ``--pair`` may name a value absent from a labelmap. Two binary masks in two encodings (0/1
against 0/255) share no value: a warning names them and the ``--pair`` that compares them
(:mod:`SDSegLogic.score_encodings`). Segment names must be unique
to pair by name, and one comparison may be given to ``--pair`` once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from .cli import EXIT_OK, UsageError
from .class_names import class_name_key
from .cli_report import Reporter
from .errors import GeometryError, InputError
from .io.label_files import LabelSegment, LabelVolume, read_label_volume
from .score_grid import align_reference
from .score_report import CSV_FIELDS, format_optional, report_text, write_report

__all__ = ["run_score", "score_files", "score_case", "add_empty_targets", "pair_segments", "align_reference", "name_key", "PIXEL_UNIT_WARNING",
           "CSV_FIELDS", "format_optional", "report_text", "write_report"]  # the last four: score_report's

#: said of every score of a picture (PNG, JPEG, TIFF, BMP): it reads as 1 mm pixels, having no pixel size
PIXEL_UNIT_WARNING = ("a picture (PNG, JPEG, TIFF or BMP) stores no pixel size: its distances (HD95, ASSD, HD; the _mm "
                      "fields) are in pixels and its volumes (the _ml fields) are pixel counts / 1000.")


def name_key(name: str) -> str:
    """How segment names compare: the one class-name rule, :func:`SDSegLogic.class_names.class_name_key`
    (NFC, without surrounding whitespace, case-folded)."""
    return class_name_key(name)


def _find_one(volume: LabelVolume, key: str, role: str) -> LabelSegment:
    wanted = name_key(key)
    named = [s for s in volume.segments if name_key(s.name) == wanted]
    if len(named) > 1:
        raise UsageError(f"--pair: the {role} {volume.path} has {len(named)} segments named {key.strip()!r} (label values "
                         f"{', '.join(str(s.value) for s in named)}); pair by label value, or rename one.")
    if named:
        return named[0]
    if wanted.isascii() and wanted.isdigit():  # not "²", which int() refuses
        hits = [s for s in volume.segments if s.value == int(wanted)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise UsageError(f"--pair: label value {key} is used in several layers of the {role} {volume.path}; "
                             f"pair by name ({', '.join(s.name for s in hits)}).")
        if not volume.named:  # a labelmap lists only the values it holds: an absent value is an empty segment
            return LabelSegment(f"label {int(wanted)}", int(wanted))
    names = ", ".join(f"{s.name} ({s.value})" for s in volume.segments) or "none (empty)"
    raise UsageError(f"--pair: no segment {key!r} in the {role} {volume.path}; its segments are: {names}.")


def _find(volume: LabelVolume, text: str, role: str) -> Tuple[LabelSegment, ...]:
    """The segments ``text`` names: one name or label value, or several joined by ``+`` (their union)."""
    found = tuple(_find_one(volume, part, role) for part in text.split("+"))
    if len(set(found)) != len(found):
        raise UsageError(f"--pair: {text!r} names a segment of the {role} twice.")
    return found


def union_mask(layers: np.ndarray, segments: Sequence[LabelSegment]) -> np.ndarray:
    """(K, J, I) bool union of segments, from (L, K, J, I) layers."""
    mask = layers[segments[0].layer] == segments[0].value
    for segment in segments[1:]:
        mask |= layers[segment.layer] == segment.value
    return mask


def pair_segments(prediction: LabelVolume, reference: LabelVolume, pairs: Sequence[str] = (),
                  match: str = "auto", annotated: Sequence[int] = ()
                  ) -> Tuple[List[Tuple[Tuple[LabelSegment, ...], Tuple[LabelSegment, ...]]], List[str], List[str]]:
    """Pair prediction and reference segments.

    Args:
        annotated: label values a labelmap reference annotates even where it lacks them (a test set's: those its
            other references hold), so that a missing one is an empty target, paired by value without ``--pair``:
            the prediction's segment of that value is scored against nothing (a false positive, Dice 0), and a
            labelmap prediction without it too scores both empty (Dice 1), as training's metrics count them.

    Returns:
        ``(pairs, prediction_only, reference_only)``: the pairs to score (each side a tuple of
        segments, scored as their union), and the names of the segments left without a partner
        on each side.

    Raises:
        UsageError: a malformed or unknown ``--pair``, one given twice, ``match="name"`` without names on both sides, or
            two segments of one file with the same name when pairing by name.
    """
    if pairs:
        chosen, given = [], {}
        for text in pairs:
            left, sep, right = text.partition("=")
            if not sep or not left.strip() or not right.strip():
                raise UsageError(f"--pair {text!r}: expected PRED=REF, e.g. liver=5 or liver=Liver.")
            pair = (_find(prediction, left, "prediction"), _find(reference, right, "reference"))
            key = (frozenset(pair[0]), frozenset(pair[1]))
            if key in given:  # one more row would count it again in the mean Dice and the test-set summary
                raise UsageError(f"--pair: {given[key]!r} and {text.strip()!r} name the same comparison twice; give it once.")
            given[key] = text.strip()
            chosen.append(pair)
        return chosen, [], []
    if match == "name" and not (prediction.named and reference.named):
        unnamed = reference.path if not reference.named else prediction.path
        raise UsageError(f"--match name: {unnamed} is a labelmap without segment names; use --match value or --pair.")
    by_name = match == "name" or (match == "auto" and prediction.named and reference.named)
    if by_name:
        for volume, role in ((prediction, "prediction"), (reference, "reference")):
            _refuse_duplicate_names(volume, role)
    # by value: the label value alone (a DICOM SEG keeps each segment in a layer of its own), unless a
    # .seg.nrrd uses one value in several layers, where the layer tells its segments apart
    by_layer = not by_name and any(_values_repeat(v) for v in (prediction, reference))

    def key(segment: LabelSegment) -> Any:
        if by_name:
            return name_key(segment.name)
        return (segment.layer, segment.value) if by_layer else segment.value

    ref_by_key = {key(s): s for s in reference.segments}
    matched, pred_only = [], []
    for segment in prediction.segments:
        partner = ref_by_key.pop(key(segment), None)
        if partner is None:
            pred_only.append(segment)
        else:
            matched.append(((segment,), (partner,)))
    if not prediction.named and not by_layer:
        # a labelmap holds only the labels it found: a reference segment whose value it lacks is a miss (Dice 0)
        matched += [((LabelSegment(f"label {s.value}", s.value),), (s,)) for s in ref_by_key.values()]
        ref_by_key = {}
    if not (by_name or by_layer or reference.named):
        matched, pred_only = _empty_targets(matched, pred_only, reference, annotated, prediction.named)
    return matched, [s.name for s in pred_only], [s.name for s in ref_by_key.values()]


def _empty_targets(matched: List[Any], pred_only: List[LabelSegment], reference: LabelVolume, annotated: Sequence[int],
                   named_prediction: bool) -> Tuple[List[Any], List[LabelSegment]]:
    """``matched`` with a pair per ``annotated`` value the labelmap ``reference`` lacks (an empty target): the
    prediction's segment of that value taken from ``pred_only``, or, for a labelmap prediction without it, an
    empty one (both empty). A named prediction without that value has no segment to score."""
    held = {s.value for s in reference.segments}
    for value in sorted(set(int(v) for v in annotated) - held):
        found = [s for s in pred_only if s.value == value]
        if not found and named_prediction:
            continue
        pred_only = [s for s in pred_only if s.value != value]
        empty = LabelSegment(f"label {value}", value)
        matched.append(((found[0] if found else empty,), (empty,)))
    return matched, pred_only


def _values_repeat(volume: LabelVolume) -> bool:
    values = [s.value for s in volume.segments]
    return len(set(values)) != len(values)


def _refuse_duplicate_names(volume: LabelVolume, role: str) -> None:
    seen: Dict[str, LabelSegment] = {}
    for segment in volume.segments:
        name = name_key(segment.name)
        if name in seen:
            raise UsageError(f"the {role} {volume.path} has two segments named {segment.name.strip()!r} (label values "
                             f"{seen[name].value} and {segment.value}), so segments cannot be paired by name; pair them "
                             "with --pair PRED=REF (a label value picks one), or rename one of them.")
        seen[name] = segment


def _seg_on(path: Path, other: LabelVolume) -> LabelVolume:
    """The DICOM SEG ``path`` placed on ``other``'s grid; a refusal names ``other`` and its grid too."""
    try:
        return read_label_volume(path, grid=other.geometry)
    except GeometryError as exc:
        from .score_grid import describe_grid

        raise GeometryError(f"{exc} It was placed on the grid of {other.path}: {describe_grid(other.geometry)}.") from None


def read_pair(prediction_path: Path, reference_path: Path) -> Tuple[LabelVolume, LabelVolume, List[str]]:
    """Read both files; a DICOM SEG (no grid of its own) is placed on the other file's grid.

    Returns:
        ``(prediction, reference, warnings)``; a warning says that a DICOM SEG's frames cover only one slice in
        N of the other file's grid, or that it was made for another series than the DICOM series it is scored
        against.

    Raises:
        InputError: both are DICOM SEGs.
        GeometryError: a DICOM SEG's frames are not on the other file's lattice (naming both files and grids).
    """
    from .io.dicom_seg_read import is_dicom_seg, other_series_warning

    pred_seg, ref_seg = is_dicom_seg(prediction_path), is_dicom_seg(reference_path)
    if pred_seg and ref_seg:
        raise InputError(f"{prediction_path} and {reference_path} are both DICOM SEGs, which have no voxel grid of their "
                         "own; convert one to .seg.nrrd (e.g. load it in Slicer with its series and save the segmentation).")
    if pred_seg:
        reference = read_label_volume(reference_path)
        prediction = _seg_on(prediction_path, reference)
    else:
        prediction = read_label_volume(prediction_path)
        reference = _seg_on(reference_path, prediction) if ref_seg else read_label_volume(reference_path)
    seg, other = (prediction_path, reference_path) if pred_seg else (reference_path, prediction_path)
    warning = other_series_warning(seg, other) if pred_seg or ref_seg else None
    notes = [*prediction.warnings, *reference.warnings, *([warning] if warning else [])]
    return prediction, reference, list(dict.fromkeys(notes))  # a note both files give (two JPEG masks) once


def score_files(prediction_path: str, reference_path: str, pairs: Sequence[str] = (), match: str = "auto",
                annotated: Sequence[int] = ()) -> Dict[str, Any]:
    """Read both files, align the reference, pair segments and score each pair.

    Args:
        annotated: label values a labelmap reference annotates where it lacks them (:func:`pair_segments`).

    Returns:
        A report: ``prediction``, ``reference``, ``grid`` (the grid scored on: the prediction's, or the
        smallest one holding both when one file is a crop of the other, or its slices a DICOM SEG drawn on thicker
        slices lies on only; shape I, J, K, spacing and origin in mm),
        ``segments`` (one dict per pair: names, values and the scores of
        :func:`~SDSegLogic.overlap_metrics.segment_scores`), ``mean_dice`` over the pairs
        (``None`` without pairs), ``prediction_only``, ``reference_only``, ``warnings`` (texts; e.g. a DICOM
        SEG made for another series than the DICOM series it is scored against, or :data:`PIXEL_UNIT_WARNING`),
        ``reference_labels`` (the label values a labelmap reference holds; ``None`` for named segments).
        ``grid["unit"]`` is ``"mm"``, or ``"pixel"`` when either file is a picture (PNG, JPEG, TIFF, BMP), which
        stores no pixel size: distances (the ``*_mm`` fields) are then in pixels and volumes (``*_ml``) pixel
        counts / 1000.
    """
    return score_case(prediction_path, reference_path, pairs, match, annotated)[0]


def score_case(prediction_path: str, reference_path: str, pairs: Sequence[str] = (), match: str = "auto",
               annotated: Sequence[int] = (), empty_targets: bool = False) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """:func:`score_files`, and with ``empty_targets`` what the test set needs to score empty targets without
    reading the files again (:func:`add_empty_targets`).

    Returns:
        ``(report, targets)``: :func:`score_files`'s report; ``targets`` is empty unless ``empty_targets``, else
        ``named_prediction`` (bool) and ``rows``: label value -> ``(prediction segment name, row)``, the row
        scoring the prediction's segment of that value against an empty target, for each value the prediction
        holds that the labelmap reference lacks (what :func:`pair_segments` pairs given that value as annotated).
    """
    from .io.sniff import is_picture
    from .overlap_metrics import segment_scores

    prediction, reference, warnings = read_pair(Path(prediction_path), Path(reference_path))
    prediction_layers, reference_layers, grid = align_reference(prediction, reference)
    drawn = prediction.drawn_slices or reference.drawn_slices  # a DICOM SEG drawn on thicker slices: its own only
    if drawn is not None:
        from .score_grid import on_drawn_slices

        prediction_layers, reference_layers, grid = on_drawn_slices(prediction_layers, reference_layers, grid, drawn)
    spacing = grid.spacing

    def row(pred_segments: Sequence[LabelSegment], ref_segments: Sequence[LabelSegment]) -> Dict[str, Any]:
        scores = segment_scores(union_mask(prediction_layers, pred_segments), union_mask(reference_layers, ref_segments),
                                spacing)
        return {"prediction_segment": "+".join(s.name for s in pred_segments),
                "prediction_values": [s.value for s in pred_segments],
                "reference_segment": "+".join(s.name for s in ref_segments),
                "reference_values": [s.value for s in ref_segments], **scores}

    matched, pred_only, ref_only = pair_segments(prediction, reference, pairs, match, annotated)
    rows = [row(*pair) for pair in matched]
    if not pairs:  # a 0/1 mask beside a 0/255 one: no value in both, Dice 0 everywhere without a word
        from .score_encodings import pair_encoding_warning

        encoding = pair_encoding_warning(prediction, reference)
        warnings = [*warnings, encoding] if encoding else warnings
    targets: Dict[str, Any] = {}
    if empty_targets:  # every value the prediction holds, as annotated: the pairs past ``matched`` are its extras
        extra = pair_segments(prediction, reference, pairs, match, [s.value for s in prediction.segments])[0]
        targets = {"named_prediction": prediction.named,
                   "rows": {pair[0][0].value: (pair[0][0].name, row(*pair)) for pair in extra[len(matched):]}}
    unit = "mm"
    if any(is_picture(volume.path) for volume in (prediction, reference)):
        unit = "pixel"  # a picture stores no pixel size: it reads as 1 mm pixels
        warnings = [*warnings, PIXEL_UNIT_WARNING]
    return {
        "prediction": str(prediction.path), "reference": str(reference.path),
        "grid": {"shape_ijk": list(grid.shape), "spacing_mm": list(spacing), "origin_lps_mm": list(grid.origin),
                 "unit": unit},
        "segments": rows, "mean_dice": float(np.mean([r["dice"] for r in rows])) if rows else None,
        "prediction_only": pred_only, "reference_only": ref_only, "warnings": warnings,
        "reference_labels": None if reference.named else [s.value for s in reference.segments],
    }, targets


def add_empty_targets(report: Dict[str, Any], targets: Dict[str, Any], annotated: Sequence[int]) -> Dict[str, Any]:
    """``report`` (:func:`score_case`'s, with its ``targets``) as :func:`score_files` scores it given ``annotated``,
    without reading the files again: a row per annotated value its labelmap reference lacks, appended in value
    order (the prediction's segment of that value from ``targets``, a false positive; for a labelmap prediction
    without it, both empty), that segment no longer listed as unpaired, and the mean Dice over all rows."""
    from .overlap_metrics import segment_scores

    held = report.get("reference_labels")
    if held is None or not targets:
        return report
    rows, pred_only = list(report["segments"]), list(report["prediction_only"])
    nothing = np.zeros((1, 1, 1), bool)  # both empty: no voxel counts, so any grid scores alike
    for value in sorted(set(int(v) for v in annotated) - set(held)):
        if value in targets["rows"]:
            name, found = targets["rows"][value]
            rows.append(found)
            pred_only.remove(name)
        elif not targets["named_prediction"]:
            rows.append({"prediction_segment": f"label {value}", "prediction_values": [value],
                         "reference_segment": f"label {value}", "reference_values": [value],
                         **segment_scores(nothing, nothing, report["grid"]["spacing_mm"])})
    return {**report, "segments": rows, "prediction_only": pred_only,
            "mean_dice": float(np.mean([r["dice"] for r in rows])) if rows else None}


def run_score(args: argparse.Namespace) -> int:
    """Run ``sdseg score``: two files, or two folders of cases (:mod:`SDSegLogic.cli_score_batch`).

    Returns:
        0, or for folders the exit code of the first case that could not be scored.
    """
    output = Path(args.output) if args.output else None
    if output is not None:
        if output.suffix.lower() not in (".json", ".csv"):
            raise UsageError(f"-o {output}: the report is written as .json or .csv; choose one of those endings.")
        if not output.parent.is_dir():
            raise UsageError(f"-o {output}: the folder {output.parent} does not exist; create it first.")
    prediction, reference = Path(args.prediction), Path(args.reference)
    for given in (prediction, reference):  # before any folder rule: a mistyped path is only that
        if not given.exists():
            raise InputError(f"{given}: no such file or folder; check the path.")
    from .cli_score_batch import first_case, is_dicom_series_folder

    one_prediction = not prediction.is_dir() or is_dicom_series_folder(prediction)  # a DICOM series is one labelmap
    example = first_case(reference) if reference.is_dir() and one_prediction else None
    if example is not None:  # a folder of cases, no DICOM series: the reader would say "no DICOM series found"
        what = "a DICOM series (one labelmap)" if prediction.is_dir() else "one file"
        raise UsageError(f"{reference} is a folder of references ({example.name}, ...) but {prediction} is {what}; "
                         "give a folder of predictions (files paired by case name), or the one reference file to "
                         f"score {prediction} against.")
    if not one_prediction:
        from .cli_score_batch import batch_text, score_folders

        if not reference.is_dir():
            raise UsageError(f"{prediction} is a folder of predictions, so {reference} must be a folder of references "
                             "(files paired by case name).")
        report = score_folders(prediction, reference, args.pair, args.match)
        text, code = batch_text(report), report["first_error_code"]
    else:
        report = score_files(str(prediction), str(reference), args.pair, args.match)
        text, code = report_text(report), EXIT_OK
    if output is not None:
        write_report(output, report)
    # escaped where stdout's encoding lacks a character of a file or segment name (--json is ASCII already)
    Reporter.write(sys.stdout, json.dumps(report, indent=2) + "\n" if args.json else text)
    return code
