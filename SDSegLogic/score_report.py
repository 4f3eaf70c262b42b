"""How ``sdseg score`` shows a report: the table for people, and the ``-o`` file (.json or .csv), written atomically.

The report is :func:`SDSegLogic.cli_score.score_files`'s (one file pair) or
:func:`SDSegLogic.cli_score_batch.score_folders`'s (two folders). Distances are in mm and volumes in mL; a
picture's grid (``grid["unit"] == "pixel"``: no pixel size stored) is shown in pixels, areas as pixel counts.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from .class_names import class_name_key

__all__ = ["CSV_FIELDS", "format_optional", "report_text", "write_report"]


def format_optional(value: Optional[float], digits: int) -> str:
    """``value`` with ``digits`` decimals, or ``-`` when it is undefined (``None``)."""
    return "-" if value is None else f"{value:.{digits}f}"


def report_text(report: Dict[str, Any]) -> str:
    """The human-readable table of one file pair's report.

    Args:
        report: :func:`SDSegLogic.cli_score.score_files`'s report; ``grid["unit"] == "pixel"`` (a picture) heads the
            distance columns ``px`` and shows pixel counts instead of mL.

    Returns:
        The table, one line per segment pair, then the mean Dice, the unpaired segments and the warnings.
    """
    grid = report["grid"]
    pixels = grid.get("unit") == "pixel"  # a picture: distances in pixels, areas as pixel counts
    spacing = " x ".join(f"{s:g}" for s in grid["spacing_mm"])
    size = (f"{' x '.join(str(n) for n in grid['shape_ijk'][:2])} pixels (a picture: no pixel size)" if pixels else
            f"{' x '.join(str(n) for n in grid['shape_ijk'])} voxels, spacing {spacing} mm")
    lines = [f"prediction {report['prediction']}", f"reference  {report['reference']}", f"grid {size}", ""]
    names = [row["prediction_segment"]
             if class_name_key(row["reference_segment"]) == class_name_key(row["prediction_segment"])
             else f"{row['prediction_segment']} = {row['reference_segment']}" for row in report["segments"]]
    width = max([28, *map(len, names)])  # whole names: two long ones cut to one width would read as one
    unit, amount = ("px", "px") if pixels else ("mm", "mL")
    header = (f"{'segment':<{width}} {'Dice':>6} {'IoU':>6} {'HD95 ' + unit:>8} {'ASSD ' + unit:>8} {'HD ' + unit:>8} "
              f"{'pred ' + amount:>9} {'ref ' + amount:>9}")
    lines += [header, "-" * len(header)]
    for name, row in zip(names, report["segments"]):
        note = f"  ({row['distance_note']})" if row["distance_note"] else ""
        distances = " ".join(f"{format_optional(row[key], 2):>8}" for key in ("hd95_mm", "assd_mm", "hd_mm"))
        volumes = (f"{row['voxels_prediction']:9d} {row['voxels_reference']:9d}" if pixels else
                   f"{row['volume_prediction_ml']:9.2f} {row['volume_reference_ml']:9.2f}")
        lines.append(f"{name:<{width}} {row['dice']:6.3f} {row['iou']:6.3f} {distances} {volumes}{note}")
    if not report["segments"]:
        lines.append("(no segment pairs: see --pair)")
    if report["mean_dice"] is not None:
        lines.append(f"{'mean Dice':<{width}} {report['mean_dice']:6.3f}")
    for key, side in (("prediction_only", "prediction"), ("reference_only", "reference")):
        if report[key]:
            lines.append(f"only in the {side} (not scored): {', '.join(report[key])}")
    lines += [f"warning: {text}" for text in report["warnings"]]
    return "\n".join(lines) + "\n"


CSV_FIELDS = ["prediction_segment", "prediction_values", "reference_segment", "reference_values", "dice", "iou",
              "hd95_mm", "assd_mm", "hd_mm", "volume_prediction_ml", "volume_reference_ml", "voxels_prediction",
              "voxels_reference", "distance_note", "unit", "warnings"]


def _csv_text(rows: Sequence[Dict[str, Any]], fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        values = {k: row.get(k) for k in fields}
        if "warnings" in values:
            values["warnings"] = " | ".join(values["warnings"] or [])  # texts, not values joined by +
        writer.writerow({k: ("" if v is None else "+".join(map(str, v)) if isinstance(v, list) else v) for k, v in values.items()})
    return buffer.getvalue()


def write_report(path: Path, report: Dict[str, Any]) -> None:
    """Write the report as .json or .csv (one row per segment; per case and segment for folders; the unit of the
    distances, ``mm`` or ``pixel`` (a picture), and the warnings of the file pair or case in the last columns),
    atomically."""
    from .io.atomic import atomic_output

    if path.suffix.lower() != ".csv":
        text = json.dumps(report, indent=2) + "\n"
    elif "cases" in report:
        from .score_batch_report import batch_csv_rows

        text = _csv_text(batch_csv_rows(report), ["case", *CSV_FIELDS])
    else:
        unit = report["grid"].get("unit", "mm")
        text = _csv_text([{**row, "unit": unit, "warnings": report["warnings"]} for row in report["segments"]], CSV_FIELDS)
    with atomic_output(path) as temp:
        temp.write_text(text, encoding="utf-8")
