"""The slice stack of a DICOM series or multi-frame image: unit axes and the regular-grid check.

A regular grid holds a stack only when its slices step evenly along the slice normal, without
sideways shift (gantry tilt) or repeated positions; :func:`check_stack` refuses anything else.
GDCM takes a series' axes and pixel spacing from its first file and invents what a file lacks (identity
axes, 1 mm); :func:`note_placement` records the files of a series that lack or contradict them, and
:func:`unknown_spacing_note` words the warning for a series none of whose files gives a pixel size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..errors import GeometryError

__all__ = ["unit_axes", "check_stack", "note_placement", "unknown_spacing_note", "PLACEMENT_TAGS"]

#: PixelSpacing and ImagerPixelSpacing, read with a series' other header tags for :func:`note_placement`
PLACEMENT_TAGS = ("0028|0030", "0018|1164")


def unit_axes(orient: np.ndarray) -> np.ndarray:
    """(3, 3) columns: the row and column directions of ImageOrientationPatient (6,) and the slice normal, unit length.

    DICOM writes the direction cosines as text, often rounded (``0.71\\0.71\\0``); GDCM normalises
    them, so every check of a stack against GDCM's grid does too.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero vector gives NaN: the caller checks
        row, column = orient[:3] / np.linalg.norm(orient[:3]), orient[3:] / np.linalg.norm(orient[3:])
        normal = np.cross(row, column)
        return np.column_stack([row, column, normal / np.linalg.norm(normal)])


def check_stack(path: Path, positions: np.ndarray, orient: Optional[np.ndarray],
                names: Optional[Sequence[str]] = None) -> None:
    """Refuse slice positions (N, 3) that do not form a regular, untilted stack along the normal of ``orient`` (6,).

    Args:
        path: the input, named in messages.
        positions: ImagePositionPatient of each slice, in stacking order (mm, LPS).
        orient: ImageOrientationPatient (6,), rounded or not.
        names: the file of each slice of a series, so that two files on one plane are refused by name
            first; ``None`` for the frames of one multi-frame file, whose order
            :func:`._dicom_frames.check_multiframe` checks after the steps.

    Raises:
        GeometryError: slices on one plane (repeated slices, several acquisitions), shifted sideways
            (gantry tilt) or unevenly spaced (missing slices); the messages name ``path``.
    """
    if len(positions) < 2 or orient is None or len(orient) != 6 or not np.all(np.isfinite(unit_axes(orient))):
        return
    normal = unit_axes(orient)[:, 2]
    if names is not None and len(names) == len(positions):
        _check_shared_planes(path, positions @ normal, names)
    steps = np.diff(positions, axis=0)
    along = steps @ normal
    across = np.linalg.norm(steps - np.outer(along, normal), axis=1)
    typical = float(np.median(np.abs(along)))
    if typical <= 0:
        raise GeometryError(f"{path}: several slices share one position; the folder mixes acquisitions. "
                            "Keep one series per folder.")
    if float(across.max()) > 0.01 * typical + 1e-3:
        raise GeometryError(
            f"{path}: slices are shifted sideways by up to {across.max():.2f} mm per step (gantry tilt or a "
            "sheared stack); a regular grid cannot hold it. Resample the series in 3D Slicer (DICOM "
            "acquisition-geometry regularization, then harden the transform) and save it as NRRD."
        )
    deviation = float(np.abs(np.abs(along) - typical).max())
    if deviation > max(0.01 * typical, 1e-3):
        worst = int(np.argmax(np.abs(np.abs(along) - typical)))
        raise GeometryError(
            f"{path}: slice spacing is not uniform (step {worst} is {abs(along[worst]):.3f} mm, typical {typical:.3f} mm); "
            "slices are missing or the series mixes acquisitions. Re-export the complete series, or resample it "
            "in 3D Slicer and save it as NRRD."
        )


def _check_shared_planes(path: Path, heights: np.ndarray, names: Sequence[str]) -> None:
    """Refuse slices whose positions along the normal (N,) coincide (within 1 % of the usual step, or 1e-3 mm).

    GDCM gives up its position sort for such a series, so the steps between consecutive files say
    nothing useful ("step 5 is 35 mm"); the message names two slices of one plane instead.
    """
    order = np.argsort(heights, kind="stable")
    gaps = np.diff(heights[order])
    usual = float(np.median(gaps[gaps > 1e-3])) if np.any(gaps > 1e-3) else 0.0
    shared = np.flatnonzero(gaps <= max(1e-3, 0.01 * usual))
    if shared.size == 0:
        return
    first, second = sorted((int(order[shared[0]]), int(order[shared[0] + 1])))
    pair = f"{Path(names[first]).name} and {Path(names[second]).name}"
    raise GeometryError(
        f"{path}: {shared.size} slice(s) lie on the plane of another ({pair}, both {heights[first]:.3f} mm along the "
        "slice normal); the series repeats slices or holds several acquisitions (echoes, phases, or a repeated "
        "scan under one series UID), which one volume cannot hold. Put the slices of one acquisition in a folder "
        "of their own (3D Slicer's DICOM module splits such series), then retry."
    )


def _pixel_spacing(text: str) -> Optional[np.ndarray]:
    try:
        values = np.array([float(v) for v in text.split("\\")], dtype=np.float64)
    except ValueError:
        return None
    return values if values.shape == (2,) else None


def note_placement(facts: Dict[str, Any], tags: Dict[str, str], name: str) -> None:
    """Record in ``facts`` what file ``name`` of a series lacks or contradicts to place its pixels.

    Args:
        facts: the series' facts, filled file by file: ``"unplaced"`` lists ``"file (keyword, ...)"`` for the
            files without ImagePositionPatient or ImageOrientationPatient; ``"spacing"`` holds the first file's
            ``(file, PixelSpacing text)``, and ``"other_spacing"`` names the first file whose PixelSpacing
            differs from it (or is missing while it is given, or the reverse).
        tags: the file's header tags (GDCM keys such as ``"0020|0032"`` -> text).
        name: the file.
    """
    file = Path(name).name
    missing = [keyword for tag, keyword in (("0020|0032", "ImagePositionPatient"),
                                            ("0020|0037", "ImageOrientationPatient")) if tag not in tags]
    if missing:
        facts.setdefault("unplaced", []).append(f"{file} ({', '.join(missing)})")
    text = tags.get("0028|0030", "").strip()
    if "spacing" not in facts:
        facts["spacing"] = (file, text)
        facts["imager_spacing"] = tags.get("0018|1164", "").strip()
        facts["frames_tag"] = "0028|0008" in tags  # a multi-frame IOD: its pixel size lies in functional groups
        return
    first_file, first_text = facts["spacing"]
    here, there = _pixel_spacing(text), _pixel_spacing(first_text)
    same = (here is None and there is None and text == first_text) or (
        here is not None and there is not None and np.allclose(here, there, rtol=1e-4, atol=1e-6))
    if not same and "other_spacing" not in facts:
        facts["other_spacing"] = (f"{file} has {text or 'none'!r}, {first_file} has {first_text or 'none'!r} "
                                  "as PixelSpacing")


def unknown_spacing_note(path: Path, facts: Dict[str, Any], files: int, spacing: Sequence[float]) -> Optional[str]:
    """The warning for a series none of whose ``files`` has PixelSpacing, read with an invented pixel size.

    GDCM (so SimpleITK and 3D Slicer) reads such a series with 1 mm pixels, or, for projection radiographs
    (CR, DX, MG SOP classes), with ImagerPixelSpacing, which DICOM defines for them at the detector. Only
    the first case invents the size: the segmentation still overlays the image voxel for voxel (Slicer
    places both alike), but lengths, areas and volumes in mm are not real.

    Args:
        path: the input, named in the message.
        facts: the series' facts from :func:`note_placement`.
        files: the files of the series.
        spacing: the in-plane spacing read (x = between columns, y = between rows), mm.

    Returns:
        The warning, or ``None`` when a file gives PixelSpacing, the file is of a multi-frame kind (its
        pixel size lies in functional groups), GDCM used ImagerPixelSpacing, or read a size other than 1 mm.
    """
    first_file, text = facts.get("spacing", ("", "x"))
    if text or "other_spacing" in facts or facts.get("frames_tag"):
        return None  # given, or kept per frame (a series whose files differ is refused by the caller)
    read = np.asarray(spacing[:2], dtype=np.float64)
    imager_text = facts.get("imager_spacing", "")
    imager = _pixel_spacing(imager_text) if imager_text else None
    if imager is not None and np.allclose(read, imager[::-1], rtol=1e-4):
        return None  # a projection radiograph: GDCM uses ImagerPixelSpacing, as DICOM defines it
    if not np.allclose(read, 1.0, rtol=1e-6):
        return None  # GDCM found the size elsewhere in the header: not invented
    unused = (f"; its ImagerPixelSpacing (0018,1164) '{imager_text}' is not used, since DICOM defines it at the "
              "detector of projection radiographs (CR, DX, MG), not for this kind of image") if imager_text else ""
    whose = f"none of the {files} files of the series has" if files > 1 else f"{first_file} has no"
    return (f"{path}: {whose} PixelSpacing (0028,0030), so its pixel size is unknown; it is read as "
            f"{spacing[0]:g} x {spacing[1]:g} mm, as 3D Slicer (ITK/GDCM) reads it{unused}. The segmentation "
            "overlays the image voxel for voxel, but its lengths, areas and volumes in mm are not real. For true "
            "sizes, re-export the series from the scanner or PACS with its PixelSpacing.")
