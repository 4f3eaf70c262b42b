"""The words of the DICOM reader's refusals about which series to read: each names what the folder holds.

A person who gave a folder, a file or a ``--series`` UID that does not lead to one series is told the series
there are (UID, SeriesDescription, slice count) or, for a folder without DICOM, the image files it holds and how
to segment them instead. A series whose slices cannot be placed on one grid is told which files lack or
contradict their placement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from .sniff import FORMATS, format_from_extension

__all__ = ["no_series_text", "tie_text", "unknown_series_text", "unplaced_text"]

#: how many series or files a message names before it says how many more there are
_NAMED = 12


def _describe(files: List[str]) -> str:
    """SeriesDescription of the first file of a series ('' when absent or unreadable)."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(files[0])
    try:
        reader.ReadImageInformation()
        return reader.GetMetaData("0008|103e").strip() if reader.HasMetaDataKey("0008|103e") else ""
    except RuntimeError:
        return ""


def _series_lines(series: Dict[str, List[str]]) -> str:
    """One line per series, largest first: ``  UID  'description'  N slices``."""
    ordered = sorted(series.items(), key=lambda item: -len(item[1]))
    lines = [f"  {uid}  {_describe(files)!r}  {len(files)} slices" for uid, files in ordered[:_NAMED]]
    if len(ordered) > _NAMED:
        lines.append(f"  ... and {len(ordered) - _NAMED} more")
    return "\n".join(lines)


def tie_text(path: Path, series: Dict[str, List[str]], largest: int) -> str:
    """Two or more series share the largest slice count: which one to read is unclear."""
    tied = sum(len(files) == largest for files in series.values())
    return (f"{path}: {tied} DICOM series share the largest slice count ({largest}); it is unclear which one to read. "
            "Series (UID, description, slices):\n" + _series_lines(series) + "\nName one file of the wanted series, "
            "choose it with series=UID (sdseg segment --series UID), or point to a folder holding only that series.")


def unknown_series_text(path: Path, series: Dict[str, List[str]], uid: str) -> str:
    """``uid`` (``--series``) is none of the folder's series."""
    return (f"{path}: series {uid!r} not found; the folder holds {len(series)} series (UID, description, slices):\n"
            + _series_lines(series) + "\nGive one of these UIDs with --series (series=UID), or leave it out to read "
            "the largest series.")


def no_series_text(path: Path, folder: Path) -> str:
    """No DICOM series in ``folder``; when it holds images of other formats, they are named with how to read them."""
    try:
        images = sorted(entry.name for entry in folder.iterdir()
                        if entry.is_file() and format_from_extension(entry) not in (None, "dicom"))
    except OSError:
        images = []
    if not images:
        return f"{path}: no DICOM series found; point to a folder of .dcm files of one series."
    first = images[0].lower()
    ending = next(end for end in FORMATS[format_from_extension(Path(first))] if first.endswith(end))
    named = ", ".join(images[:_NAMED]) + (f", ... ({len(images)} files)" if len(images) > _NAMED else "")
    return (f"{path}: no DICOM series found; a folder is read as one DICOM series, but this one holds image files of "
            f"other formats ({named}). Give the files themselves, e.g. sdseg segment {folder}/*{ending} "
            "-o OUT_FOLDER/ (one segmentation per scan).")


def unplaced_text(path: Path, unplaced: List[str], total: int, other_spacing: Optional[str] = None) -> str:
    """The refusal of a series of ``total`` single-frame files whose slices cannot all be placed.

    Args:
        path: the input.
        unplaced: ``"file (keyword, ...)"`` of each file without ImagePositionPatient or ImageOrientationPatient.
        total: the files of the series.
        other_spacing: how one file's PixelSpacing differs from the first file's, if it does.
    """
    if unplaced:
        listed = "; ".join(unplaced[:3]) + (f"; and {len(unplaced) - 3} more" if len(unplaced) > 3 else "")
        what = f"{len(unplaced)} of the {total} files of the series lack where their pixels lie ({listed})"
    else:
        what = f"the files of the series differ in pixel size ({other_spacing})"
    return (f"{path}: {what}, so the slices cannot be placed on one grid (GDCM would give every slice the axes and "
            "pixel size of the first file, or identity axes and 1 mm where that lacks them). Re-export the series "
            "from the scanner or PACS with its geometry; a 2-D image reads alone in a folder of its own.")
