"""DICOM series reading through SimpleITK/GDCM, with the geometry checks DICOM needs.

Geometry comes from ImagePositionPatient/ImageOrientationPatient (never SliceThickness); slices
are sorted by position along the normal (GDCM does this). Missing slices and gantry tilt are
rejected because a regular grid cannot represent them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import GeometryError, InputError
from ._sitk import geometry_from_sitk, itk_safe_path

__all__ = ["list_series", "read_dicom"]


def list_series(path: Path) -> Tuple[Path, Dict[str, List[str]]]:
    """All series in the folder (or the folder of a DICOM file): UID -> sorted file names."""
    import SimpleITK as sitk

    folder = path if path.is_dir() else path.parent
    reader = sitk.ImageSeriesReader()
    with itk_safe_path(folder) as safe:
        ids = reader.GetGDCMSeriesIDs(str(safe))
        series = {uid: list(reader.GetGDCMSeriesFileNames(str(safe), uid)) for uid in ids}
        if safe != folder:
            series = {uid: [str(folder / Path(f).name) for f in files] for uid, files in series.items()}
    if not series:
        raise InputError(f"{path}: no DICOM series found; point to a folder of .dcm files of one series.")
    return folder, series


def _choose(path: Path, series: Dict[str, List[str]], uid: Optional[str]) -> Tuple[str, List[str], List[str]]:
    notes: List[str] = []
    if uid is not None:
        if uid not in series:
            raise InputError(f"{path}: series {uid!r} not found; the folder holds {len(series)} series.")
        return uid, series[uid], notes
    if path.is_file():
        for key, files in series.items():
            if any(Path(f).resolve() == path.resolve() for f in files):
                return key, files, notes
    chosen = max(series, key=lambda k: len(series[k]))
    if len(series) > 1:
        sizes = sorted((len(f) for f in series.values()), reverse=True)
        notes.append(
            f"{path}: {len(series)} DICOM series found (slice counts {sizes}); using the largest "
            f"({len(series[chosen])} slices). Put one series per folder to choose another."
        )
    return chosen, series[chosen], notes


def _slice_info(files: List[str]) -> Tuple[np.ndarray, np.ndarray, Dict[str, str]]:
    import SimpleITK as sitk

    positions, orient, first = [], None, {}
    for index, name in enumerate(files):
        reader = sitk.ImageFileReader()
        reader.SetFileName(name)
        reader.ReadImageInformation()
        keys = set(reader.GetMetaDataKeys())
        if "0020|0032" in keys:
            positions.append([float(v) for v in reader.GetMetaData("0020|0032").split("\\")])
        if orient is None and "0020|0037" in keys:
            orient = np.array([float(v) for v in reader.GetMetaData("0020|0037").split("\\")])
        if index == 0:
            for tag, key in (("0008|0060", "modality"), ("0028|1053", "slope"), ("0028|1052", "intercept"),
                             ("0028|0010", "rows"), ("0028|0011", "columns")):
                if tag in keys:
                    first[key] = reader.GetMetaData(tag).strip()
        elif "0028|1053" in keys and reader.GetMetaData("0028|1053").strip() != first.get("slope"):
            first["varying_slope"] = "1"
    return np.asarray(positions, dtype=np.float64), orient, first


def _check_spacing(path: Path, positions: np.ndarray, orient: Optional[np.ndarray]) -> None:
    if len(positions) < 2 or orient is None or len(orient) != 6:
        return
    normal = np.cross(orient[:3], orient[3:])
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


def dicom_voxel_count(path: Path, series: Optional[str]) -> Tuple[int, Dict[str, Any]]:
    """Voxels of the chosen series from headers only, plus what :func:`read_dicom` needs."""
    folder, all_series = list_series(path)
    uid, files, notes = _choose(path, all_series, series)
    positions, orient, first = _slice_info(files)
    rows, cols = int(first.get("rows", 0) or 0), int(first.get("columns", 0) or 0)
    return rows * cols * len(files), {"files": files, "positions": positions, "orient": orient, "first": first,
                                      "notes": notes, "series_count": len(all_series)}


def read_dicom(path: Path, plan: Dict[str, Any]) -> Tuple[np.ndarray, Any, Dict[str, Any]]:
    """Read the series chosen by :func:`dicom_voxel_count` as float32 (rescale applied per slice).

    Returns:
        ``(array float32 (K, J, I), geometry, facts)``.
    """
    import SimpleITK as sitk

    _check_spacing(path, plan["positions"], plan["orient"])
    for note in plan["notes"]:
        warnings.warn(note, stacklevel=3)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(plan["files"])
    reader.SetOutputPixelType(sitk.sitkFloat32)  # per-slice rescale in float: no truncation (SimpleITK #1636)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise InputError(f"{path}: the DICOM series cannot be read ({str(exc).strip().splitlines()[-1]}); "
                         "some files are corrupt or truncated, re-export the series.") from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{path}: colour DICOM series are not supported; export the series as grayscale.")
    geometry = geometry_from_sitk(image, str(path))
    array = sitk.GetArrayFromImage(image)
    if array.ndim == 2:
        array = array[None]
    first = plan["first"]
    facts: Dict[str, Any] = {
        "modality": first.get("modality", ""),
        "series_count": plan["series_count"],
        "slices": len(plan["files"]),
        "notes": list(plan["notes"]),
    }
    if "slope" in first or "intercept" in first:
        facts["rescale"] = {"slope": float(first.get("slope", 1) or 1), "intercept": float(first.get("intercept", 0) or 0),
                            "varies_per_slice": bool(first.get("varying_slope"))}
    return array, geometry, facts
