"""Read a DICOM Segmentation (SEG) onto a given voxel grid, for scoring against it.

A SEG stores frames (2-D planes, often only the non-empty ones), each with its plane position,
orientation, pixel spacing and the segment it belongs to; it carries no grid of its own. So it is
read *onto* a grid, normally that of the image it was drawn on (the other file being scored):
every frame must lie exactly on one plane of that grid (its first pixel centre on a voxel centre
within :data:`POSITION_TOLERANCE_MM`, its rows and columns along grid axes with the grid's
spacing); a frame that does not is refused, never resampled. A SEG whose non-empty pixels reach
beyond the grid's extent (scored against a ``.seg.nrrd`` that Slicer cropped to its own segments) is
placed on the box of its pixels on the same lattice; the scorer puts both files on one grid
(:mod:`SDSegLogic.score_grid`). A SEG whose frames lie on one slice in N of the grid and that states a slice
spacing N times the grid's (drawn on a series of thicker slices) is marked to be scored on its own slices only
(:func:`drawn_on_thicker_slices`); without that statement it is placed as it is, with a warning.

Segments may overlap in a SEG, so they are packed into layers of the returned
:class:`~SDSegLogic.io.label_files.LabelVolume`, each in the first layer where it overlaps no other
(one volume for disjoint organs, whatever their number), with its SegmentNumber as label value and
its SegmentLabel as name. FRACTIONAL SEGs are thresholded at one half of MaximumFractionalValue.
Only pydicom is needed (``pip install pydicom``, or ``pip install "sdseg[dicom]"``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import GeometryError, InputError
from ..geometry import ImageGeometry
from .sniff import sniff_content

if TYPE_CHECKING:  # pragma: no cover - imported in the function at run time (label_files imports this module)
    from .label_files import LabelVolume

__all__ = ["SEGMENTATION_STORAGE_UID", "is_dicom_seg", "read_dicom_seg_on_grid", "POSITION_TOLERANCE_MM",
           "other_series_warning", "slice_coverage_warning", "slice_lattice", "declared_slice_spacing",
           "drawn_on_thicker_slices"]

SEGMENTATION_STORAGE_UID = "1.2.840.10008.5.1.4.1.1.66.4"
#: how far (mm) a frame's plane may sit from the grid's voxel centres
POSITION_TOLERANCE_MM = 1e-2


def _pydicom(path: Path) -> Any:
    try:
        import pydicom
    except ImportError:
        raise InputError(f"{path}: reading a DICOM SEG needs pydicom; install it with pip install pydicom "
                         "(or pip install \"sdseg[dicom]\").") from None
    return pydicom


def _read(path: Path, **options: Any) -> Any:
    """``pydicom.dcmread`` that also reads a data set stored without preamble and file meta.

    Such a file states no transfer syntax; pydicom guesses its encoding from the first element, and that
    (implicit or explicit VR, little or big endian: uncompressed) is recorded so the pixel data can be decoded.
    """
    pydicom = _pydicom(path)
    ds = pydicom.dcmread(str(path), force=True, **options)
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        from pydicom.dataset import FileMetaDataset
        from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

        implicit, little = getattr(ds, "original_encoding", (None, None))
        if implicit is None:  # pydicom < 3
            implicit, little = ds.is_implicit_VR, ds.is_little_endian
        if not hasattr(ds, "file_meta"):
            ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else
                                          ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    return ds


def is_dicom_seg(path: Path) -> bool:
    """True when ``path`` is a single DICOM file whose SOP class is Segmentation Storage.

    DICOM is recognised as :func:`~SDSegLogic.io.sniff.sniff_content` recognises it: the ``DICM`` marker at
    byte 128, or a data set stored without preamble and file meta (which pydicom reads with ``force=True``).
    """
    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        head = fh.read(512)
    if sniff_content(head) != "dicom":
        return False
    if importlib.util.find_spec("pydicom") is None:
        return path.name.lower().endswith(".seg.dcm")  # reported by read_dicom_seg_on_grid
    ds = _read(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    return str(getattr(ds, "SOPClassUID", "")) == SEGMENTATION_STORAGE_UID


def _referenced_series(path: Path) -> Tuple[str, ...]:
    """The SeriesInstanceUIDs a SEG's ReferencedSeriesSequence names (none when it has no such sequence)."""
    ds = _read(path, stop_before_pixels=True)
    items = getattr(ds, "ReferencedSeriesSequence", None) or []
    return tuple(str(item.SeriesInstanceUID) for item in items if getattr(item, "SeriesInstanceUID", None))


def _series_read(path: Path) -> Optional[str]:
    """SeriesInstanceUID of the series :func:`~SDSegLogic.io.read_image` reads at ``path`` (``None``: not DICOM)."""
    from ._dicom import _choose, list_series
    from .sniff import detect_format

    try:
        if detect_format(path) != "dicom":
            return None
        _, series = list_series(path)
        return _choose(path, series, None)[0]
    except (InputError, GeometryError):  # already reported when the file was read
        return None


def other_series_warning(seg_path: Path, other_path: Path) -> Optional[str]:
    """A warning when a SEG was made for another series than the DICOM series it is scored against.

    Only a DICOM series records which series it is; a NIfTI, NRRD or ``.seg.nrrd`` does not, and a SEG
    without ReferencedSeriesSequence names none, so neither is checked. The scores stand (the grids matched
    voxel for voxel), and anonymising a series gives it new UIDs, so this is a warning, not a refusal.

    Returns:
        The warning text, naming both files and both series, or ``None`` when nothing contradicts.
    """
    referenced = _referenced_series(seg_path)
    series = _series_read(other_path) if referenced else None
    if series is None or series in referenced:
        return None
    return (f"{seg_path} was made for series {', '.join(referenced)} (its ReferencedSeriesSequence), but {other_path} "
            f"is series {series}; the grids match, so it was scored. Check that this is the series the SEG was drawn "
            "on (an anonymised copy of it gets new UIDs).")


def _frame_attribute(ds: Any, item: Any, sequence: str, attribute: str, path: Path, n: int) -> Any:
    for group in (item, *(getattr(ds, "SharedFunctionalGroupsSequence", None) or [])):
        seq = getattr(group, sequence, None)
        if seq:
            return getattr(seq[0], attribute)
    raise InputError(f"{path}: frame {n + 1} has no {sequence} {attribute} (per-frame or shared); the SEG is incomplete.")


def _frame_steps(geometry: ImageGeometry, position, orientation, spacing, path: Path, n: int) -> Tuple[np.ndarray, ...]:
    """Where a frame lies on ``geometry``'s lattice (which goes on beyond its extent).

    Returns:
        ``(start, column step, row step)``: int64 (i, j, k) index of the frame's first pixel, and the index step
        to the next column and to the next row (each one voxel along one grid axis).

    Raises:
        GeometryError: the frame's rows or columns do not run along grid axes with the grid's spacing, or its
            first pixel is off the grid's voxel centres (the frame's geometry named).
    """
    row_dir = np.asarray(orientation[:3], dtype=np.float64)  # along a row: increasing column index
    col_dir = np.asarray(orientation[3:], dtype=np.float64)  # down a column: increasing row index
    row_spacing, col_spacing = (float(v) for v in spacing)  # PixelSpacing = (between rows, between columns)
    start = geometry.world_to_index(np.asarray(position, dtype=np.float64))
    step_col = geometry.world_to_index(np.asarray(position) + row_dir * col_spacing) - start  # next column
    step_row = geometry.world_to_index(np.asarray(position) + col_dir * row_spacing) - start  # next row
    scale = np.asarray(geometry.spacing)
    frame = (f"frame {n + 1} (pixel spacing {row_spacing:g} x {col_spacing:g} mm, ImageOrientationPatient "
             f"{[round(float(v), 6) for v in orientation]})")
    for name, step in (("column", step_col), ("row", step_row)):
        rounded = np.rint(step)
        if np.abs((step - rounded) * scale).max() > POSITION_TOLERANCE_MM or np.abs(rounded).sum() != 1:
            raise GeometryError(f"{path}: {frame}'s {name} step is {np.round(step, 4).tolist()} voxels of the "
                                "image grid, not one voxel along a grid axis (another orientation or pixel spacing); "
                                "score against the image the SEG was drawn on, or resample one of them.")
    rounded_start = np.rint(start)
    off = np.abs((start - rounded_start) * scale).max()
    if off > POSITION_TOLERANCE_MM:
        raise GeometryError(f"{path}: {frame} at ImagePositionPatient {list(map(float, position))} lies {off:.3f} mm "
                            "off the image grid's voxel centres; score against the image the SEG was drawn on.")
    return tuple(v.astype(np.int64) for v in (rounded_start, np.rint(step_col), np.rint(step_row)))


def _frame_voxels(ds: Any, frames: Any, n: int, frame: np.ndarray, geometry: ImageGeometry, path: Path) -> np.ndarray:
    """(3, m) int64 (k, j, i) lattice indices of frame ``n``'s non-empty pixels (``frame``: its (rows, cols) pixels)."""
    item = frames[n]
    position = _frame_attribute(ds, item, "PlanePositionSequence", "ImagePositionPatient", path, n)
    orientation = _frame_attribute(ds, item, "PlaneOrientationSequence", "ImageOrientationPatient", path, n)
    spacing = _frame_attribute(ds, item, "PixelMeasuresSequence", "PixelSpacing", path, n)
    start, step_col, step_row = _frame_steps(geometry, position, orientation, spacing, path, n)
    rows, cols = np.nonzero(frame > 0)
    ijk = start[:, None] + step_col[:, None] * cols + step_row[:, None] * rows
    return ijk[::-1]


def _frame_planes(ds: Any, frames: Any, geometry: ImageGeometry, path: Path) -> Tuple[Optional[int], List[int]]:
    """The (i, j, k) axis across the frames and the sorted lattice index of every frame's plane along it
    (``(None, [])`` when the frames lie across several axes, or are fewer than two planes)."""
    planes = set()
    for n, item in enumerate(frames):
        position = _frame_attribute(ds, item, "PlanePositionSequence", "ImagePositionPatient", path, n)
        orientation = _frame_attribute(ds, item, "PlaneOrientationSequence", "ImageOrientationPatient", path, n)
        spacing = _frame_attribute(ds, item, "PixelMeasuresSequence", "PixelSpacing", path, n)
        start, step_col, step_row = _frame_steps(geometry, position, orientation, spacing, path, n)
        normal = 3 - int(np.argmax(np.abs(step_col))) - int(np.argmax(np.abs(step_row)))  # the (i, j, k) axis across
        planes.add((normal, int(start[normal])))
    axes = {axis for axis, _ in planes}
    if len(axes) != 1 or len(planes) < 2:
        return None, []
    return axes.pop(), sorted(plane for _, plane in planes)


def declared_slice_spacing(ds: Any, frames: Any) -> Optional[float]:
    """The slice spacing (mm) a SEG states for the series it was drawn on: SpacingBetweenSlices, else SliceThickness,
    of its Pixel Measures (first frame's, else shared); ``None`` when it states neither."""
    groups = [*list(frames)[:1], *(getattr(ds, "SharedFunctionalGroupsSequence", None) or [])]
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        for group in groups:
            measures = getattr(group, "PixelMeasuresSequence", None)
            try:
                value = float(getattr(measures[0], keyword)) if measures else None
            except (AttributeError, TypeError, ValueError):
                value = None
            if value is not None and np.isfinite(value) and value > 0:
                return value
    return None


def slice_lattice(ds: Any, frames: Any, geometry: ImageGeometry, path: Path) -> Optional[Tuple[int, int, List[int]]]:
    """``(axis, step, planes)`` when every frame lies on one slice in ``step`` (> 1) of ``geometry``'s lattice
    along its (i, j, k) ``axis`` (``planes``: the frames' slice indices, sorted); ``None`` otherwise. Frames on
    neighbouring slices anywhere (one organ, or two lesions with a gap) give ``None``."""
    normal, found = _frame_planes(ds, frames, geometry, path)
    if normal is None:
        return None
    step = int(np.gcd.reduce(np.diff(found)))
    return (normal, step, found) if step > 1 else None


def _referenced_instances(ds: Any) -> int:
    """How many source instances the SEG's ReferencedSeriesSequence names (0 when it names none)."""
    return sum(len(getattr(item, "ReferencedInstanceSequence", None) or [])
               for item in getattr(ds, "ReferencedSeriesSequence", None) or [])


def drawn_on_thicker_slices(ds: Any, frames: Any, geometry: ImageGeometry, path: Path
                            ) -> Tuple[Optional[Tuple[np.ndarray, float, np.ndarray]], Optional[str]]:
    """Whether the SEG was drawn on a series of thicker slices than ``geometry``'s, and the warning to score it with.

    When its frames lie on one slice in N of the lattice and it states a slice spacing (:func:`declared_slice_spacing`)
    of N times the lattice's, it was drawn on such a series: it says nothing about the slices between its frames, so
    it is scored on its own slices only. Frames one slice in N apart without that statement (drawn on every few
    slices of this very series, or two lesions far apart), or of a SEG that references at least as many source
    instances as the grid has slices (drawn on this grid's series, whose slices are thicker than their spacing),
    are placed as they are, with :func:`slice_coverage_warning`'s text.

    Returns:
        ``(drawn, warning)``: ``drawn`` is ``(normal, spacing_mm, point)`` (the unit LPS normal of the SEG's planes,
        their spacing in mm, a point on one of them) or ``None``; ``warning`` the text to report, or ``None``.
    """
    lattice = slice_lattice(ds, frames, geometry, path)
    if lattice is None:
        return None, None
    axis, step, found = lattice
    spacing_mm, declared = float(geometry.spacing[axis]), declared_slice_spacing(ds, frames)
    if declared is None or abs(declared - step * spacing_mm) > 1e-2 * declared \
            or _referenced_instances(ds) >= geometry.shape[axis]:  # a slice thickness above the spacing, on this grid
        return None, _coverage_text(path, geometry, axis, step, found)
    index = np.zeros(3)
    index[axis] = found[0]
    drawn = (geometry.direction_matrix[:, axis].copy(), step * spacing_mm, geometry.index_to_world(index))
    return drawn, (f"{path}: it was drawn on slices {declared:g} mm apart (its SpacingBetweenSlices or SliceThickness), "
                   f"one slice in {step} of the {spacing_mm:g} mm grid it is scored on, so it says nothing of the "
                   f"slices between: both files were scored on its slices only (one in {step}; distances and volumes "
                   f"with {step * spacing_mm:g} mm between slices), as on the series it was drawn on.")


def slice_coverage_warning(ds: Any, frames: Any, geometry: ImageGeometry, path: Path) -> Optional[str]:
    """A warning when every frame lies on one slice in N (N > 1) of ``geometry``'s lattice (:func:`slice_lattice`):
    a SEG drawn on every few slices only, or on a series with thicker slices that it does not declare, placed on a
    finer lattice, whose slices between frames are background.

    Returns:
        The text, naming ``path``, the slices covered between the first and the last frame (count and percent)
        and both slice spacings; ``None`` when the frames are not coarser than the lattice.
    """
    lattice = slice_lattice(ds, frames, geometry, path)
    return None if lattice is None else _coverage_text(path, geometry, *lattice)


def _coverage_text(path: Path, geometry: ImageGeometry, normal: int, step: int, found: List[int]) -> str:
    """:func:`slice_coverage_warning`'s text for frames on slices ``found`` (one in ``step``) along axis ``normal``."""
    span, spacing_mm = found[-1] - found[0] + 1, float(geometry.spacing[normal])
    return (f"{path}: its frames lie on one slice in {step} of the grid it is scored on ({len(found)} of the {span} "
            f"slices from its first frame to its last covered, {100.0 * len(found) / span:.0f}%; slice spacing "
            f"{step * spacing_mm:g} mm on a grid of {spacing_mm:g} mm), as if drawn on a series with thicker slices or "
            "on every few slices only: the slices between its frames count as background, which lowers Dice and the "
            "volumes. Score it against the series it was drawn on (a SEG that states that thicker slice spacing, in "
            "SpacingBetweenSlices or SliceThickness, is scored on its own slices instead).")


def _placement(ds: Any, pixels: np.ndarray, frames: Any, geometry: ImageGeometry, path: Path) -> ImageGeometry:
    """The grid to place the SEG on: ``geometry`` when every non-empty pixel lies in it, else the box of those
    pixels on ``geometry``'s lattice (a SEG scored against a ``.seg.nrrd`` Slicer cropped to its own segments)."""
    low = np.zeros(3, np.int64)
    high = np.asarray(geometry.array_shape, np.int64)
    box_low, box_high = np.full(3, np.iinfo(np.int64).max), np.full(3, np.iinfo(np.int64).min)
    for n, frame in enumerate(pixels):
        kji = _frame_voxels(ds, frames, n, frame, geometry, path)
        if kji.size:
            box_low, box_high = np.minimum(box_low, kji.min(axis=1)), np.maximum(box_high, kji.max(axis=1) + 1)
    if box_low[0] > box_high[0] or (np.all(box_low >= low) and np.all(box_high <= high)):
        return geometry
    return ImageGeometry(geometry.spacing, tuple(geometry.index_to_world(box_low[::-1].astype(np.float64))),
                         geometry.direction_matrix, tuple(int(v) for v in (box_high - box_low)[::-1]))


def _pack_segments(ds: Any, pixels: np.ndarray, frames: Any, frames_of: Dict[int, List[int]], geometry: ImageGeometry,
                   path: Path) -> Tuple[np.ndarray, Dict[int, int]]:
    """Segments into as few layers as their overlaps allow (each segment in the first layer where it
    overlaps nothing), its SegmentNumber as value: one volume for a SEG of disjoint organs, not one per segment.
    Every non-empty pixel lies in ``geometry`` (:func:`_placement`)."""
    dtype = np.uint8 if max(frames_of, default=0) <= np.iinfo(np.uint8).max else np.uint16  # SegmentNumber is US
    size = int(np.prod(geometry.array_shape))
    layers: List[np.ndarray] = [np.zeros(size, dtype=dtype)]
    layer_of: Dict[int, int] = {}
    for number, indices in frames_of.items():
        found = [np.ravel_multi_index(tuple(_frame_voxels(ds, frames, n, pixels[n], geometry, path)), geometry.array_shape)
                 for n in indices]
        voxels = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
        free = [n for n, layer in enumerate(layers) if not layer[voxels].any()]
        if not free:
            layers.append(np.zeros(size, dtype=dtype))
            free = [len(layers) - 1]
        layers[free[0]][voxels] = number
        layer_of[number] = free[0]
    stacked = layers[0][None] if len(layers) == 1 else np.stack(layers)  # no copy for disjoint segments
    return stacked.reshape(len(layers), *geometry.array_shape), layer_of


def read_dicom_seg_on_grid(path: Path, geometry: ImageGeometry) -> "LabelVolume":
    """Place every frame of a DICOM SEG on ``geometry``, its segments packed into as few layers as overlaps allow.

    Args:
        path: the SEG file.
        geometry: the grid (LPS) to place it on, usually that of the other file being scored.

    Returns:
        A :class:`~SDSegLogic.io.label_files.LabelVolume`: layers (L, K, J, I), uint8 (uint16 when a
        SegmentNumber exceeds 255), each segment's voxels set to its SegmentNumber in its layer, named
        by SegmentLabel; L is 1 unless segments overlap. Its geometry is ``geometry``, or, when non-empty
        pixels lie beyond ``geometry``'s extent, the box of the non-empty pixels on ``geometry``'s lattice. When
        the frames are coarser than the lattice, its ``warnings`` say so, and its ``drawn_slices`` are the planes
        to score on where the SEG states that slice spacing (:func:`drawn_on_thicker_slices`).

    Raises:
        InputError: not a SEG, unreadable, missing attributes.
        GeometryError: a frame that does not lie on the lattice of the grid's planes.
    """
    from .label_files import LabelSegment, LabelVolume

    _pydicom(path)  # a missing pydicom is reported as such, not as a SEG that cannot be read
    try:
        ds = _read(path)
        pixels = np.asarray(ds.pixel_array)
    except Exception as exc:  # pydicom raises many types on corrupt files
        raise InputError(f"{path}: the DICOM SEG cannot be read ({type(exc).__name__}: {exc}); export it again.") from None
    if str(getattr(ds, "SOPClassUID", "")) != SEGMENTATION_STORAGE_UID:
        raise InputError(f"{path}: SOP class {getattr(ds, 'SOPClassUID', '?')} is not a DICOM Segmentation.")
    pixels = pixels.reshape(-1, int(ds.Rows), int(ds.Columns))
    if str(getattr(ds, "SegmentationType", "BINARY")).upper() == "FRACTIONAL":
        pixels = pixels >= float(getattr(ds, "MaximumFractionalValue", 255)) / 2.0
    numbers = [int(item.SegmentNumber) for item in ds.SegmentSequence]
    names = [str(getattr(item, "SegmentLabel", "") or f"segment {number}") for item, number in zip(ds.SegmentSequence, numbers)]
    frames = getattr(ds, "PerFrameFunctionalGroupsSequence", None) or []
    if len(frames) != pixels.shape[0]:
        raise InputError(f"{path}: {pixels.shape[0]} frames but {len(frames)} per-frame descriptions; the SEG is corrupt.")
    frames_of = {number: [] for number in numbers}  # segment -> its frames
    for n, item in enumerate(frames):
        number = int(_frame_attribute(ds, item, "SegmentIdentificationSequence", "ReferencedSegmentNumber", path, n))
        if number not in frames_of:
            raise InputError(f"{path}: frame {n + 1} refers to segment {number}, which the SEG does not describe.")
        frames_of[number].append(n)
    drawn, coverage = drawn_on_thicker_slices(ds, frames, geometry, path)
    geometry = _placement(ds, pixels, frames, geometry, path)
    layers, layer_of = _pack_segments(ds, pixels, frames, frames_of, geometry, path)
    segments = tuple(LabelSegment(name, number, layer_of[number]) for name, number in zip(names, numbers))
    return LabelVolume(Path(path), layers, geometry, segments, named=True, warnings=(coverage,) if coverage else (),
                       drawn_slices=drawn)
