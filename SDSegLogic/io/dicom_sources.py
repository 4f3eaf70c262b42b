"""The source DICOM instances of a volume, in slice order: what a DICOM SEG must reference.

The reader (:mod:`SDSegLogic.io._dicom`, SimpleITK/GDCM) sorts the slices of a series by their
position along the slice normal; file names, file order and InstanceNumber mean nothing. So each
volume slice ``k`` is matched to its file here by geometry alone: the file's
ImagePositionPatient projected on the volume's k axis gives its slice index, its
ImageOrientationPatient must equal the volume's i and j axes (rows and columns not flipped or
swapped), its Rows/Columns and PixelSpacing the volume's in-plane grid. Anything but a one-to-one
match of files and slices is refused with :class:`GeometryError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import GeometryError, InputError
from ..geometry import ImageGeometry

__all__ = ["DicomSources", "load_dicom_sources", "slice_order"]

_AXIS_TOL = 1e-2  # |row/column direction - volume axis|: catches flips and swaps, allows rounded IOP text
_SLICE_TOL = 0.25  # slice index must be within a quarter slice of an integer
_REMEDY = "write a .seg.nrrd instead, or re-export the series from the scanner or PACS"


@dataclass(frozen=True)
class DicomSources:
    """The instances a volume was read from.

    Attributes:
        path: the input as given (a DICOM folder or one file of the series).
        series_uid: SeriesInstanceUID of the series that was read.
        datasets: one pydicom ``Dataset`` per volume slice, ``datasets[k]`` for slice ``k``
            (pixel data not loaded).
        files: the file of each slice, same order.
        geometry: the volume grid (LPS) the order was derived for.
    """

    path: Path
    series_uid: str
    datasets: Tuple[Any, ...]
    files: Tuple[str, ...]
    geometry: ImageGeometry


def _floats(ds: Any, keyword: str, count: int, name: str, where: str) -> np.ndarray:
    values = getattr(ds, keyword, None)
    try:
        array = np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        array = np.zeros(0)
    if array.shape != (count,) or not np.all(np.isfinite(array)):
        raise GeometryError(f"{where}: {keyword} is missing or malformed ({values!r}) in {name}; {_REMEDY}.")
    return array


def slice_order(datasets: Sequence[Any], names: Sequence[str], geometry: ImageGeometry, where: str) -> List[int]:
    """Index into ``datasets`` of the instance at each volume slice ``k`` (one-to-one).

    Args:
        datasets: single-frame image datasets (headers suffice), any order.
        names: a name per dataset for messages (its file).
        geometry: the volume grid the reader built from them (LPS, mm).
        where: the input, for messages.

    Returns:
        ``order`` with ``datasets[order[k]]`` at slice ``k``; ``len(order) == geometry.shape[2]``.

    Raises:
        GeometryError: a multi-frame instance, rows/columns or orientation that differ from the
            volume's in-plane axes, a position off the slice grid, two instances on one slice, or
            a slice without an instance.
        InputError: no datasets.
    """
    size_i, size_j, size_k = geometry.shape
    if not datasets:
        raise InputError(f"{where}: no DICOM instances to reference; {_REMEDY}.")
    direction = geometry.direction_matrix
    origin = np.asarray(geometry.origin)
    s_i, s_j, s_k = geometry.spacing
    order: List[Optional[int]] = [None] * size_k
    for index, (ds, name) in enumerate(zip(datasets, names)):
        if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
            raise GeometryError(f"{where}: {name} is a multi-frame DICOM image; DICOM SEG output supports series of "
                                f"single-frame images only; {_REMEDY}.")
        if (int(ds.Rows), int(ds.Columns)) != (size_j, size_i):
            raise GeometryError(f"{where}: {name} has {ds.Rows} x {ds.Columns} pixels but the volume slices are "
                                f"{size_j} x {size_i}; {_REMEDY}.")
        orient = _floats(ds, "ImageOrientationPatient", 6, name, where)
        if max(np.abs(orient[:3] - direction[:, 0]).max(), np.abs(orient[3:] - direction[:, 1]).max()) > _AXIS_TOL:
            raise GeometryError(f"{where}: {name}: ImageOrientationPatient {orient.round(4).tolist()} differs from the "
                                "volume's row and column axes (flipped or swapped rows/columns); the SEG frames "
                                f"would not lie on the source pixels; {_REMEDY}.")
        row_spacing, column_spacing = _floats(ds, "PixelSpacing", 2, name, where)
        if not (np.isclose(row_spacing, s_j, rtol=1e-3) and np.isclose(column_spacing, s_i, rtol=1e-3)):
            raise GeometryError(f"{where}: {name}: PixelSpacing {[row_spacing, column_spacing]} differs from the "
                                f"volume's ({s_j}, {s_i}); {_REMEDY}.")
        offset = _floats(ds, "ImagePositionPatient", 3, name, where) - origin
        along = float(offset @ direction[:, 2])
        k = int(round(along / s_k))
        sideways = float(np.linalg.norm(offset - along * direction[:, 2]))
        if abs(along / s_k - k) > _SLICE_TOL or not 0 <= k < size_k or sideways > 0.5 * min(s_i, s_j):
            raise GeometryError(f"{where}: {name}: ImagePositionPatient lies off the volume's slice grid (slice "
                                f"{along / s_k:.2f} of {size_k}, {sideways:.2f} mm sideways); {_REMEDY}.")
        if order[k] is not None:
            raise GeometryError(f"{where}: {names[order[k]]} and {name} lie on the same slice {k}; the mapping of "
                                f"slices to instances is not one-to-one; {_REMEDY}.")
        order[k] = index
    missing = [k for k, index in enumerate(order) if index is None]
    if missing:
        raise GeometryError(f"{where}: no DICOM instance lies on volume slice(s) {missing[:5]}; the mapping of slices "
                            f"to instances is not one-to-one; {_REMEDY}.")
    return [int(index) for index in order]


def load_dicom_sources(path: Path, geometry: ImageGeometry, series: Optional[str] = None) -> DicomSources:
    """Read the headers of the series :func:`SDSegLogic.io.read_image` reads and order them by slice.

    Args:
        path: a DICOM folder or one file of the series (as given to ``read_image``).
        geometry: the grid ``read_image`` returned for it.
        series: the ``series=`` given to ``read_image`` (``None``: the same default choice).

    Returns:
        :class:`DicomSources` with ``datasets[k]`` the instance of volume slice ``k``.

    Raises:
        InputError: not a DICOM input, or a file that pydicom cannot read.
        GeometryError: see :func:`slice_order`.
    """
    import pydicom

    from ._dicom import _choose, list_series
    from .sniff import detect_format

    path = Path(path)
    if not path.is_dir() and detect_format(path) != "dicom":
        raise InputError(f"{path}: not a DICOM series; a DICOM SEG can only reference the DICOM series it was "
                         "segmented from. Give the DICOM folder as input, or write a .seg.nrrd.")
    _, all_series = list_series(path)
    uid, files, _ = _choose(path, all_series, series)
    datasets = []
    for name in files:  # GDCM listed each as DICOM: force reads one stored without preamble and DICM too
        try:
            datasets.append(pydicom.dcmread(name, stop_before_pixels=True, force=True))
        except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for a bad file
            raise InputError(f"{path}: {name} cannot be read as DICOM ({exc}); {_REMEDY}.") from None
    order = slice_order(datasets, files, geometry, str(path))
    return DicomSources(path, uid, tuple(datasets[i] for i in order), tuple(files[i] for i in order), geometry)
