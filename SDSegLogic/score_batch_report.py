"""The summary of a test set scored by ``sdseg score PREDICTIONS/ REFERENCES/``, its table and its CSV rows.

The report is :func:`SDSegLogic.cli_score_batch.score_folders`'s. Dice and IoU have no unit; distances do: a
case scored on a picture (PNG, JPEG, TIFF, BMP: no pixel size stored) has them in pixels, a volume in mm
(``case["grid"]["unit"]``). A segment's distance statistics are taken over cases of one unit only: where its cases
mix pictures and volumes, its median HD95 and mean ASSD are left out (``None``, ``distance_unit`` ``"mixed"``; each
case keeps its own distances), as a median of pixels and millimetres measures nothing.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any, Dict, List, Sequence

from .score_report import format_optional

__all__ = ["MIXED_UNITS_NOTE", "summary", "batch_text", "batch_csv_rows"]

#: the table's line for a summary whose segments were scored on pictures (pixels) and on volumes (mm) together
MIXED_UNITS_NOTE = ("distances: a segment scored on pictures (in pixels) and on volumes (in mm) has no HD95 or ASSD "
                    "summary (pixels and mm do not average); each case's own distances are in its scores.")
_UNIT_SHOWN = {"mm": "mm", "pixel": "px", "mixed": "mixed"}


def summary(cases: Sequence[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Statistics per prediction segment; per ``"pred = ref"`` when ``--pair`` pairs one prediction segment
    with several reference segments (each comparison its own row, counted once per case).

    Returns:
        Segment -> ``cases``, ``dice_mean``, ``dice_sd``, ``dice_median``, ``hd95_median_mm``, ``assd_mean_mm``,
        ``cases_with_distances`` (both masks non-empty) and ``distance_unit`` (``"mm"``, ``"pixel"``, or ``"mixed"``
        when its cases mix pictures and volumes: no distance statistics then).
    """
    rows: Dict[str, List[Dict[str, Any]]] = {}
    units: Dict[str, set] = {}
    for case in cases:
        segments = case.get("segments", [])
        repeated = Counter(row["prediction_segment"] for row in segments)
        for row in segments:
            key = row["prediction_segment"]
            if repeated[key] > 1:
                key = f"{key} = {row['reference_segment']}"
            rows.setdefault(key, []).append(row)
            units.setdefault(key, set()).add(case.get("grid", {}).get("unit", "mm"))
    out = {}
    for segment, found in rows.items():
        unit = units[segment].pop() if len(units[segment]) == 1 else "mixed"
        dice = [r["dice"] for r in found]
        hd95 = [r["hd95_mm"] for r in found if r["hd95_mm"] is not None]
        assd = [r["assd_mm"] for r in found if r["assd_mm"] is not None]
        one_unit = unit != "mixed"
        out[segment] = {
            "cases": len(found), "dice_mean": statistics.fmean(dice),
            "dice_sd": statistics.stdev(dice) if len(dice) > 1 else 0.0, "dice_median": statistics.median(dice),
            "hd95_median_mm": statistics.median(hd95) if hd95 and one_unit else None,
            "assd_mean_mm": statistics.fmean(assd) if assd and one_unit else None, "cases_with_distances": len(hd95),
            "distance_unit": unit,
        }
    return out


def batch_text(report: Dict[str, Any]) -> str:
    """The human-readable summary: per case mean Dice (or error), then per segment statistics.

    The distance columns are headed by their unit (``mm``, or ``px`` for pictures only); when the segments' units
    differ, a ``unit`` column gives each its own, and a line says why a mixed one has no distance statistics.
    """
    width = max([32, *(len(case["case"]) for case in report["cases"])])  # whole names: cut, two could read as one
    lines = [f"predictions {report['predictions']}", f"references  {report['references']}", "",
             f"{'case':<{width}} {'mean Dice':>9}  segments"]
    for case in report["cases"]:
        if "error" in case:
            lines.append(f"{case['case']:<{width}} {'-':>9}  error: {case['error']}")
        else:
            names = ", ".join(f"{r['prediction_segment']} {r['dice']:.3f}" for r in case["segments"])
            if not case["segments"]:
                names = "no segment pairs (see --pair)"
            unpaired = _unpaired(case)
            lines.append(f"{case['case']:<{width}} {format_optional(case['mean_dice'], 3):>9}  {names}"
                         + (f"; not scored: {unpaired}" if unpaired else ""))
    # a case's warnings (e.g. a DICOM SEG made for another series) below the cases, not only in the JSON; one
    # line for a text that several cases share (each picture's pixel units), naming them
    by_text: Dict[str, List[str]] = {}
    for case in report["cases"]:
        for text in case.get("warnings", []):
            by_text.setdefault(text, []).append(case["case"])
    lines += [f"warning, case{'s' if len(names) > 1 else ''} {', '.join(names)}: {text}"
              for text, names in by_text.items()]
    width = max([28, *map(len, report["summary"])])
    units = {row.get("distance_unit", "mm") for row in report["summary"].values()} or {"mm"}
    one = _UNIT_SHOWN[units.pop()] if len(units) == 1 and "mixed" not in units else None
    suffix = f" {one}" if one else ""  # one unit: in the header; several: a column of their own
    header = (f"{'segment':<{width}} {'cases':>5} {'Dice mean':>9} {'sd':>6} {'median':>6} {'HD95 med' + suffix:>11} "
              f"{'HD95 n':>7} {'ASSD' + suffix:>8}" + ("" if one else f" {'unit':>5}"))
    lines += ["", header, "-" * len(header)]
    for segment, row in report["summary"].items():
        covered = f"{row['cases_with_distances']}/{row['cases']}"  # cases with both masks non-empty
        lines.append(f"{segment:<{width}} {row['cases']:>5} {row['dice_mean']:9.3f} {row['dice_sd']:6.3f} "
                     f"{row['dice_median']:6.3f} {format_optional(row['hd95_median_mm'], 2):>11} {covered:>7} "
                     f"{format_optional(row['assd_mean_mm'], 2):>8}"
                     + ("" if one else f" {_UNIT_SHOWN[row.get('distance_unit', 'mm')]:>5}"))
    if report["mean_dice"] is not None:
        lines.append(f"{'mean Dice over cases':<{width}} {len([c for c in report['cases'] if c.get('mean_dice') is not None]):>5} "
                     f"{report['mean_dice']:9.3f}")
    if any(row.get("distance_unit") == "mixed" for row in report["summary"].values()):
        lines.append(MIXED_UNITS_NOTE)
    for key, side in (("prediction_only", "predictions"), ("reference_only", "references")):
        if report[key]:
            lines.append(f"cases only in the {side} (not scored): {', '.join(report[key])}")
    lines += [f"skipped {entry['path']}: {entry['reason']}" for entry in report.get("skipped", [])]
    return "\n".join(lines) + "\n"


def _unpaired(case: Dict[str, Any]) -> str:
    """``only in the prediction: a, b; only in the reference: c`` (empty when every segment was paired)."""
    parts = [f"only in the {side}: {', '.join(case[key])}"
             for key, side in (("prediction_only", "prediction"), ("reference_only", "reference")) if case[key]]
    return "; ".join(parts)


def batch_csv_rows(report: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One row per (case, segment), with the case name first, then its scores, the unit of its distances (``mm``, or
    ``pixel`` for a picture) and the case's warnings; a failed case, or one without segment pairs, as one row saying
    why."""
    rows = []
    for case in report["cases"]:
        if "error" in case:
            rows.append({"case": case["case"], "distance_note": f"error: {case['error']}"})
        elif not case["segments"]:  # the case stays in the table, with the reason it has no scores
            rows.append({"case": case["case"], "distance_note": f"no segment pairs; {_unpaired(case)}",
                         "warnings": case["warnings"]})
        for row in case.get("segments", []):  # each case's distances in its own unit: mm, or pixel (a picture)
            rows.append({"case": case["case"], **row, "unit": case["grid"].get("unit", "mm"),
                         "warnings": case.get("warnings", [])})
    return rows
