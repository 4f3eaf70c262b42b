"""Multi-frame DICOM images (enhanced CT/MR: one file, many frames): check the grid GDCM builds from them.

GDCM (SimpleITK, and so 3D Slicer) stacks the frames of such a file in file order: the origin is the
first frame's position and the k axis runs towards the next frames, from the per-frame functional
groups (PlanePositionSequence, PlaneOrientationSequence). Nothing checks that every frame lies on
that grid, and one rescale is applied to all frames. So the per-frame groups are read here (with
pydicom, headers only) and the file is refused, naming it and the remedy, unless the frames share one
orientation and one rescale, lie on a regular untilted stack, and GDCM's grid is that stack.
Multi-frame files without per-frame positions (ultrasound cines, legacy multi-frame images) have no
3-D grid and are refused as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional, Tuple

import numpy as np

from ..errors import GeometryError, InputError
from ..geometry import ImageGeometry

__all__ = ["check_multiframe"]

_REMEDY = ("Load it in 3D Slicer's DICOM module, check its geometry there and save it as NRRD, convert it with "
           "dcm2niix, or export the series from the scanner or PACS as single-frame images.")


def _floats(values: Any, count: int) -> Optional[np.ndarray]:
    try:
        array = np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array if array.shape == (count,) and np.all(np.isfinite(array)) else None


def _item(groups: Tuple[Any, ...], keyword: str) -> Any:
    """The first item of functional group ``keyword``, from the frame's groups before the shared ones."""
    for group in groups:
        if group is not None and keyword in group and len(group[keyword].value) > 0:
            return group[keyword].value[0]
    return None


def _frame_fields(path: Path, name: str) -> Tuple[np.ndarray, List[np.ndarray], List[Tuple[float, float]]]:
    """Per frame: ImagePositionPatient (F, 3), ImageOrientationPatient (6,) each, and (slope, intercept) when given."""
    try:
        import pydicom
    except ImportError:
        raise InputError(f"{path}: {Path(name).name} is a multi-frame DICOM image; checking its per-frame geometry "
                         f"needs pydicom, which is not installed (pip install pydicom). {_REMEDY}") from None
    try:
        ds = pydicom.dcmread(name, stop_before_pixels=True, force=True)  # GDCM read it; also without preamble
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for a bad file
        raise InputError(f"{path}: {Path(name).name} cannot be read as DICOM ({exc}); re-export it.") from None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    shared_sequence = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_sequence[0] if shared_sequence is not None and len(shared_sequence) else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    positions, orientations, rescales = [], [], []
    for group in per_frame or []:
        plane = _item((group, shared), "PlanePositionSequence")
        orient = _item((group, shared), "PlaneOrientationSequence")
        position = _floats(getattr(plane, "ImagePositionPatient", None), 3)
        orientation = _floats(getattr(orient, "ImageOrientationPatient", None), 6)
        if position is None or orientation is None:
            break
        positions.append(position)
        orientations.append(orientation)
        values = _item((group, shared), "PixelValueTransformationSequence")
        if values is not None:
            rescales.append((float(values.get("RescaleSlope", 1) or 1), float(values.get("RescaleIntercept", 0) or 0)))
    if per_frame is None or len(per_frame) != frames or len(positions) != frames:
        raise GeometryError(f"{path}: {Path(name).name} is a multi-frame DICOM image ({frames} frames) without a "
                            "position and orientation for every frame (e.g. an ultrasound cine or a legacy "
                            f"multi-frame image), so its frames have no 3-D grid. {_REMEDY}")
    return np.asarray(positions), orientations, rescales


def check_multiframe(path: Path, name: str, geometry: ImageGeometry) -> None:
    """Refuse a multi-frame file whose frames GDCM's grid ``geometry`` does not place where they are.

    Args:
        path: the input as given (named in messages).
        name: the multi-frame file.
        geometry: the grid SimpleITK (GDCM) read for it; k counts frames in file order.

    Raises:
        GeometryError: frames without positions, of several orientations or rescales, off a regular
            untilted stack, or on a stack that differs from ``geometry``.
        InputError: pydicom is missing or cannot read the file.
    """
    from ._dicom_stack import check_stack, unit_axes

    positions, orientations, rescales = _frame_fields(path, name)
    file = Path(name).name
    first = orientations[0]
    worst = max(float(np.abs(o - first).max()) for o in orientations)
    if worst > 1e-3:
        raise GeometryError(f"{path}: the frames of {file} have different orientations (ImageOrientationPatient "
                            f"differs by up to {worst:.3g}); they do not form one volume. {_REMEDY}")
    if len(set(rescales)) > 1:
        raise GeometryError(f"{path}: the frames of {file} have different rescale slopes/intercepts "
                            f"({sorted(set(rescales))[:3]}...), but GDCM applies one rescale to every frame, so the "
                            f"voxel values would be wrong. {_REMEDY}")
    check_stack(Path(name), positions, first)  # its messages name the file
    axes = unit_axes(first)
    along = np.diff(positions, axis=0) @ axes[:, 2]
    if not (np.all(along > 0) or np.all(along < 0)):
        raise GeometryError(f"{path}: the frames of {file} are not stored in slice order (they go back and forth "
                            f"along the slice normal); GDCM stacks them in file order. {_REMEDY}")
    step = float(np.median(along))
    expected = axes * np.array([1.0, 1.0, np.sign(step)])
    problems = []
    if np.abs(geometry.direction_matrix - expected).max() > 1e-3:
        problems.append("axes")
    if np.abs(np.asarray(geometry.origin) - positions[0]).max() > 1e-2:
        problems.append("origin")
    if abs(geometry.spacing[2] - abs(step)) > 1e-3 * abs(step) + 1e-4:
        problems.append(f"slice spacing ({geometry.spacing[2]:.4g} mm, the frames are {abs(step):.4g} mm apart)")
    if problems:
        raise GeometryError(f"{path}: GDCM reads {file} with a grid whose {', '.join(problems)} differ from the "
                            f"frames' positions, so the volume would be misplaced. {_REMEDY}")
