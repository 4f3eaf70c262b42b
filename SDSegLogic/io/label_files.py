"""Read a segmentation to score it: a Slicer ``.seg.nrrd``, a DICOM SEG or a labelmap, as named segments.

A ``.seg.nrrd`` (or a ``.seg.nhdr``, ``.nrrd`` or ``.nhdr`` with Slicer's ``Segment<n>_`` fields, as Slicer
also saves segmentations) keeps its segment names, label values and layers (Slicer stores overlapping
segments in separate layers, a (layers, K, J, I) array), so each segment's mask is
``layer_array == label_value`` (a file of Slicer 4.10 or older, without layers and label values, has
one layer per segment, value 1; one without any ``Segment`` field is a labelmap saved under that name).
Any other file the engine can read (NRRD, NIfTI, MetaImage, a DICOM series, a PNG mask) is a labelmap:
every non-zero value is one segment, named ``label <value>``, read once as the file stores it (a 16-bit PNG
or TIFF mask unscaled, integer labels above 2**24 exactly, a DICOM label series of whole-number rescale as
integers; float voxels from 2**24 on, where neighbouring labels merge, refused). A labelmap must hold
integers; a probability map or an image is refused. A JPEG mask (lossy) is read as binary, label 255 where its
grey level is above 127, its compression noise no labels (:mod:`.jpeg_labels`); a colour picture of grey pixels
is its grey level, a palette picture its palette indices (:mod:`.colour_labels`). A DICOM SEG is placed on a
given grid's lattice (:mod:`.dicom_seg_read`), its segments in as few layers as overlaps allow.

Geometry is the image's grid in LPS (:class:`~SDSegLogic.geometry.ImageGeometry`), exactly as
:func:`SDSegLogic.io.read_image` and the ``.seg.nrrd`` writer define it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ..errors import InputError
from ..geometry import ImageGeometry

__all__ = ["LabelSegment", "LabelVolume", "read_label_volume", "segment_table"]

#: labelmaps with more distinct values than this are refused (an image given by mistake)
MAX_LABELS = 1000
#: float32 holds every integer up to this magnitude exactly; a larger label would be rounded to its neighbour's
FLOAT32_EXACT = 2 ** 24


@dataclass(frozen=True)
class LabelSegment:
    """One segment of a label volume.

    Attributes:
        name: the segment's name (``.seg.nrrd``) or ``"label <value>"`` (labelmaps).
        value: its label value (> 0) in its layer.
        layer: index into :attr:`LabelVolume.layers` (0 for labelmaps).
    """

    name: str
    value: int
    layer: int = 0


@dataclass(frozen=True)
class LabelVolume:
    """Named segments on one voxel grid.

    Attributes:
        path: the file read.
        layers: (L, K, J, I) integer array, one labelmap per layer (L = 1 except for a
            ``.seg.nrrd`` with overlapping segments).
        geometry: the grid in LPS.
        segments: the segments, in file order.
        named: True when the names come from the file (``.seg.nrrd``), False for ``label N``.
        warnings: what the scores should be read with (e.g. a DICOM SEG whose frames cover one slice in two of
            the grid it was placed on), texts naming the file.
        drawn_slices: for a DICOM SEG drawn on a series of thicker slices than its grid, the planes it was drawn
            on, to score on those only: ``(normal, spacing_mm, point)``, the unit LPS normal (3,) float64 of the
            planes, their spacing in mm and an LPS point (3,) on one of them; ``None`` for every other file.
    """

    path: Path
    layers: np.ndarray
    geometry: ImageGeometry
    segments: Tuple[LabelSegment, ...]
    named: bool
    warnings: Tuple[str, ...] = ()
    drawn_slices: Optional[Tuple[np.ndarray, float, np.ndarray]] = None

    def mask(self, segment: LabelSegment) -> np.ndarray:
        """(K, J, I) bool mask of one segment."""
        return self.layers[segment.layer] == segment.value


def _integral_labels(path: Path, array: np.ndarray) -> np.ndarray:
    """Check that a labelmap holds small non-negative integers and return it as int32.

    Float voxels from the magnitude where their type stops holding every integer (2**24 for float32) are
    refused: neighbouring labels may have been rounded into one (:func:`_float_too_large`).

    Checked and converted one slice at a time, so that the only full-size array added is the
    result (4 bytes a voxel), not a float copy per step (a 512 x 512 x 600 CT labelmap is 157 M voxels).
    Integer voxels are integral by type; float voxels must be whole numbers.
    """
    if array.ndim != 3:
        raise InputError(f"{path}: a labelmap must be a single-channel volume; this one has shape {array.shape} "
                         "(colour or vector voxels). Give a labelmap or a .seg.nrrd.")
    if array.dtype.kind not in "biuf":
        raise InputError(f"{path}: voxel type {array.dtype} is not a labelmap's; give integer labels (0 = background).")
    labels = np.empty(array.shape, dtype=np.int32)
    top = np.iinfo(np.int32).max
    for k, plane in enumerate(array):
        if plane.dtype.kind == "f":
            if not np.isfinite(plane).all():
                raise InputError(f"{path}: the labelmap holds NaN or infinite values; give integer labels (0 = background).")
            rounded = np.rint(plane)
            off = np.abs(rounded - plane) > 1e-3
            if off.any():
                first = (k, *(int(v) for v in np.argwhere(off)[0]))
                raise InputError(f"{path}: value {float(array[first]):g} at voxel (k, j, i) {first} is not an integer "
                                 "label; this looks like an image or a probability map. Give a labelmap (0 = background) "
                                 "or a .seg.nrrd (threshold a probability map first).")
            plane = rounded
        if plane.size and (plane.max() > top or plane.min() < 0):
            raise _out_of_range(path, k, plane, top)
        if plane.size and plane.dtype.kind == "f" and plane.max() >= 2 ** (np.finfo(plane.dtype).nmant + 1):
            raise _float_too_large(path, k, plane)
        labels[k] = plane
    return labels


def _float_too_large(path: Path, k: int, plane: np.ndarray) -> InputError:
    """The refusal of float voxels (a DICOM series, read as float32 with its rescale; a float32 file) that reach
    the magnitude from which the float type cannot tell neighbouring integers apart (2**24 for float32:
    16777217 reads as 16777216), so two labels may have become one.

    Args:
        plane: (J, I) slice ``k`` of the labelmap, floating point, whole numbers.
    """
    limit = 2 ** (np.finfo(plane.dtype).nmant + 1)
    j, i = (int(v) for v in np.argwhere(plane >= limit)[0])
    return InputError(f"{path}: label {float(plane[j, i]):.0f} at voxel (k, j, i) {(k, j, i)} was read as "
                      f"{plane.dtype} (a DICOM series with a fractional rescale slope or intercept, and a file with a "
                      "rescale slope, are read as 32-bit floats), "
                      f"which cannot tell labels from {limit} on apart ({limit + 1} reads as {limit}), so two labels "
                      "may have merged. Save the labelmap with integer voxels (e.g. a uint32 .nrrd or .nii.gz), or "
                      f"renumber its labels below {limit}.")


def _out_of_range(path: Path, k: int, plane: np.ndarray, top: int) -> InputError:
    """The refusal of a label below 0 or above ``top`` in slice ``k``: the first such voxel, its value, the remedy.

    Args:
        plane: (J, I) slice ``k`` of the labelmap (whole numbers).
    """
    bad = (plane < 0) | (plane > top)
    j, i = (int(v) for v in np.argwhere(bad)[0])
    value = float(plane[j, i])
    distinct = len(np.unique(plane))
    what, rule = (("negative label {:.0f}", "labels must be >= 0 (0 = background)") if value < 0
                  else ("label {:.0f} is too large", f"labels must be at most {top}"))
    give = "give the segmentation file (a labelmap of 0, 1, 2, ... or a .seg.nrrd)"
    if distinct > MAX_LABELS:
        remedy = f"Slice {k} holds {distinct} distinct values: this looks like an image (e.g. CT in HU), not a " \
                 f"labelmap; {give}."
    else:
        remedy = f"{give[0].upper()}{give[1:]}, not an image (e.g. CT in HU, air at -1000); set values that mark " \
                 "ignored voxels to 0."
    return InputError(f"{path}: {what.format(value)} at voxel (k, j, i) {(k, j, i)}; {rule}. {remedy}")


def _labelmap_voxels(path: Path, frame: Optional[int], series: Optional[str]) -> Tuple[np.ndarray, ImageGeometry]:
    """A labelmap's voxels, read once, with every label as the file stores it, and its grid.

    :func:`~SDSegLogic.io.read_image` gives intensities as float32: 16-bit gray pictures (PNG, TIFF) scaled
    to 0..255, which would turn labels 1 and 2 into 0.0039 and 0.0078 (and 257 into 1), and 32- or 64-bit
    labels above :data:`FLOAT32_EXACT` rounded, merging neighbours (16777217 read as 16777216). So the voxels
    are read by :func:`~SDSegLogic.io.readers.read_voxels`, with the same format, memory and geometry checks
    but no cast (a 3-D NRRD of 32-bit integers or doubles exact too).

    A DICOM series is read with its rescale applied (:func:`~SDSegLogic.io._dicom.read_dicom` with ``exact``):
    as integers where every slice's slope and intercept are whole numbers (or absent), so that labels from
    :data:`FLOAT32_EXACT` on stay apart; as float32 with a fractional rescale (labels from
    :data:`FLOAT32_EXACT` on then refused by :func:`_integral_labels`).

    Returns:
        ``(voxels, geometry)``: (K, J, I) (or (K, J, I, C) for colour) in the file's own type (the smallest
        integer type holding a DICOM series of whole-number rescale, float32 with a fractional one; float32 for a
        NRRD of 8- or 16-bit integers, exact), and the grid in LPS.

    Raises:
        InputError, GeometryError: as :func:`~SDSegLogic.io.read_image`.
    """
    from .readers import read_voxels

    return read_voxels(path, frame=frame, series=series)


def _read_labelmap(path: Path, frame: Optional[int], series: Optional[str]) -> LabelVolume:
    """A labelmap file or DICOM series as a :class:`LabelVolume`; the reader's notes (e.g. which of several DICOM
    series was read, files left out of it) kept in its ``warnings`` for the report, and passed on as warnings."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            array, geometry = _labelmap_voxels(path, frame, series)
        for item in caught:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    except InputError as exc:
        if frame is not None or "--frame" not in str(exc):
            raise
        # the readers' remedy names sdseg segment's --frame, which sdseg score (one 3-D file to another) lacks
        raise InputError(f"{path}: the labelmap holds several frames (a 4-D volume or a multi-page picture), and a "
                         "segmentation is scored as one 3-D labelmap; save the frame to score as a file of its own "
                         "(e.g. with SimpleITK: sitk.WriteImage(image[:, :, :, n], 'frame.nii.gz')).") from None
    notes = tuple(dict.fromkeys(str(item.message) for item in caught if issubclass(item.category, UserWarning)))
    if _is_jpeg(path):  # lossy: read as binary (foreground above 127), its compression noise no labels
        from .jpeg_labels import JPEG_NOTE, binary_jpeg_mask

        array, notes = binary_jpeg_mask(path, array), (*notes, JPEG_NOTE)
    elif array.ndim == 4 and array.shape[-1] in (3, 4):  # an RGB mask of grey pixels, a palette PNG: exact labels
        from .colour_labels import colour_picture_labels

        array = colour_picture_labels(path, array)
    volume = _labelmap_volume(path, array, geometry)
    return replace(volume, warnings=notes) if notes else volume


def _is_jpeg(path: Path) -> bool:
    """True for a JPEG file (by its first bytes, :func:`.sniff.sniff_content`'s rule, whatever its ending)."""
    from .sniff import sniff_content

    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        return sniff_content(fh.read(512)) == "jpeg"


def _labelmap_volume(path: Path, array: np.ndarray, geometry: ImageGeometry) -> LabelVolume:
    """(K, J, I) labelmap voxels checked (:func:`_integral_labels`) as a volume of one segment per label."""
    labels = _integral_labels(path, array)
    del array
    values = np.unique(np.concatenate([np.unique(plane) for plane in labels]))  # no sorted copy of the volume
    values = values[values > 0]
    if len(values) > MAX_LABELS:
        raise InputError(f"{path}: {len(values)} distinct labels (more than {MAX_LABELS}); this looks like an image, "
                         "not a labelmap. Give the segmentation file.")
    segments = tuple(LabelSegment(f"label {int(v)}", int(v)) for v in values)
    return LabelVolume(path, labels[None], geometry, segments, named=False)


def _legacy_layers(header: Dict[str, Any]) -> Dict[str, Any]:
    """A ``.seg.nrrd`` of Slicer 4.10 and older: one volume of the list axis per segment (value 1), and no
    ``Segment<n>_Layer`` / ``_LabelValue`` fields. Give each segment its own layer, as Slicer reads it."""
    kinds = [str(k) for k in header.get("kinds", [])]
    indices = sorted({int(key[7:key.index("_")]) for key in header
                      if key.startswith("Segment") and "_" in key and key[7:key.index("_")].isdigit()})
    if kinds[:1] != ["list"] or any(f"Segment{n}_Layer" in header or f"Segment{n}_LabelValue" in header for n in indices):
        return header
    if len(indices) != int(header.get("sizes", [0])[0]):
        return header
    return {**header, **{f"Segment{n}_Layer": str(layer) for layer, n in enumerate(indices)}}


def _segment_names(path: Path, header: Dict[str, Any]) -> Dict[str, str]:
    """The ``Segment<n>_Name`` fields as written: UTF-8 (Slicer and SDSeg's writer), teem's escapes undone.

    pynrrd decodes the header as ASCII and drops every other character, so that ``Tête`` would read as
    ``Tte`` (and ``Läsion`` and ``Lösion`` as one name). Fields pynrrd did not parse are left out.
    """
    names: Dict[str, str] = {}
    with open(path, "rb") as fh:
        for raw in fh:  # header lines up to the blank line before the data
            line = raw.rstrip(b"\r\n")
            if not line:
                break
            key, sep, value = line.partition(b":=")
            if sep and key.startswith(b"Segment") and key.endswith(b"_Name"):
                try:
                    text = value.decode("utf-8")
                except UnicodeDecodeError:  # a file of another tool in a legacy 8-bit code page
                    text = value.decode("latin-1")
                names[key.decode("ascii", "replace")] = text.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
    return {key: text for key, text in names.items() if key in header}


def _read_seg_nrrd(path: Path) -> LabelVolume:
    from ..limits import default_memory_budget
    from ._nrrd import nrrd_grid, nrrd_voxel_count, read_nrrd_header
    from ._nrrd_data import read_nrrd_voxels
    from .readers import preflight
    from .seg_nrrd import validate_seg_header

    raw_header = read_nrrd_header(path)
    # a labelmap saved under a .seg.nrrd name (no Segment<n>_ or Segmentation_ field): its labels are its
    # segments, as Slicer loads it, not a segmentation without segments (against which nothing is scored)
    plain = not any(str(key).startswith("Segment") for key in raw_header)
    preflight(path, nrrd_voxel_count(raw_header), default_memory_budget())  # as a labelmap: refused before reading
    header = raw_header if plain else _legacy_layers({**raw_header, **_segment_names(path, raw_header)})
    found = [] if plain else validate_seg_header(header, str(path))
    data = read_nrrd_voxels(path, raw_header)  # as any NRRD is read (every gzip member; InputError when corrupt)
    geometry, spatial, others = nrrd_grid(header, path)
    if plain and others:
        raise InputError(f"{path}: a labelmap of {len(others) + 3} dimensions without Slicer's Segment fields; save "
                         "the volume to score as a 3-D labelmap, or the segmentation from Slicer as .seg.nrrd.")
    # Fortran (x, y, z[, layers first]) -> (layers, K, J, I)
    data = np.moveaxis(data, others + spatial, list(range(data.ndim)))
    if not others:
        data = data[None]
    layers = np.ascontiguousarray(np.transpose(data, (0, 3, 2, 1)))
    if plain:
        return _labelmap_volume(path, layers[0], geometry)
    if not np.issubdtype(layers.dtype, np.integer):
        layers = _integral_labels(path, layers.reshape(-1, *layers.shape[2:])).reshape(layers.shape)
    segments = tuple(LabelSegment(str(s["name"]), int(s["labelValue"]), int(s["layer"])) for s in found)
    return LabelVolume(path, layers, geometry, segments, named=True)


def read_label_volume(path: Union[str, Path], *, frame: Optional[int] = None, series: Optional[str] = None,
                      grid: Optional[ImageGeometry] = None) -> LabelVolume:
    """Read a ``.seg.nrrd``, a DICOM SEG or a labelmap as named segments (the file is not changed).

    Args:
        path: ``.seg.nrrd``, a DICOM SEG file, or any image file/DICOM folder
            :func:`~SDSegLogic.io.read_image` reads.
        frame: frame of a 4-D labelmap (as ``read_image``).
        series: DICOM SeriesInstanceUID (as ``read_image``).
        grid: the grid to place a DICOM SEG on (:mod:`.dicom_seg_read`; beyond its extent, the box of the
            SEG's pixels on its lattice); required for one, which has no grid of its own, and ignored by the
            other formats.

    Raises:
        InputError: unreadable file, malformed ``.seg.nrrd`` header, non-integer or negative
            labels, too many labels, a DICOM SEG without ``grid``.
        GeometryError: a DICOM SEG frame off ``grid``'s planes.
    """
    from .dicom_seg_read import is_dicom_seg, read_dicom_seg_on_grid

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder; check the path.")
    if is_dicom_seg(path):
        if grid is None:
            raise InputError(f"{path}: a DICOM SEG has no voxel grid of its own; give it together with the image or "
                             "a segmentation of the series it was drawn on.")
        return read_dicom_seg_on_grid(path, grid)
    if path.name.lower().endswith(".seg.nrrd") or _is_slicer_segmentation(path):
        return _read_seg_nrrd(path)
    return _read_labelmap(path, frame, series)


def _is_slicer_segmentation(path: Path) -> bool:
    """A ``.nrrd`` or ``.nhdr`` file with Slicer's ``Segment<n>_`` fields: a segmentation Slicer saved under another
    ending than ``.seg.nrrd`` (it also writes ``.seg.nhdr``, ``.nrrd`` and ``.nhdr``), read with names and layers."""
    import re

    from ._nrrd import read_nrrd_header

    if not path.is_file() or not path.name.lower().endswith((".nrrd", ".nhdr")):
        return False
    return any(re.match(r"Segment\d+_", str(key)) for key in read_nrrd_header(path))


def segment_table(volume: LabelVolume) -> List[Dict[str, Any]]:
    """Segments as plain dicts (for reports)."""
    return [{"name": s.name, "value": s.value, "layer": s.layer} for s in volume.segments]
