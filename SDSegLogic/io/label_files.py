"""Read a segmentation to score it: a Slicer ``.seg.nrrd``, a DICOM SEG or a labelmap, as named segments.

A ``.seg.nrrd`` keeps its segment names, label values and layers (Slicer stores overlapping
segments in separate layers, a (layers, K, J, I) array), so each segment's mask is
``layer_array == label_value`` (a file of Slicer 4.10 or older, without layers and label values, has
one layer per segment, value 1). Any other file the engine can read (NRRD, NIfTI, MetaImage, a
DICOM series, a PNG mask) is a labelmap: every non-zero value is one segment, named
``label <value>``, read as the file stores it (a 16-bit PNG or TIFF mask unscaled, labels above 2**24
exactly). A labelmap must hold integers; a probability map or an image is refused. A
DICOM SEG is placed on a given grid (:mod:`.dicom_seg_read`), its segments in as few layers as overlaps allow.

Geometry is the image's grid in LPS (:class:`~SDSegLogic.geometry.ImageGeometry`), exactly as
:func:`SDSegLogic.io.read_image` and the ``.seg.nrrd`` writer define it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ..errors import InputError
from ..geometry import ImageGeometry

__all__ = ["LabelSegment", "LabelVolume", "read_label_volume", "segment_table"]

#: labelmaps with more distinct values than this are refused (an image given by mistake)
MAX_LABELS = 1000
#: float32 holds every integer up to this magnitude exactly; a larger label may have been rounded to its neighbour's
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
    """

    path: Path
    layers: np.ndarray
    geometry: ImageGeometry
    segments: Tuple[LabelSegment, ...]
    named: bool

    def mask(self, segment: LabelSegment) -> np.ndarray:
        """(K, J, I) bool mask of one segment."""
        return self.layers[segment.layer] == segment.value


def _integral_labels(path: Path, array: np.ndarray) -> np.ndarray:
    """Check that a labelmap holds small non-negative integers and return it as int32.

    Checked and converted one slice at a time, so that the only full-size array added is the
    result (4 bytes a voxel), not a float copy per step (a 512 x 512 x 600 CT labelmap is 157 M voxels).
    """
    if array.ndim != 3:
        raise InputError(f"{path}: a labelmap must be a single-channel volume; this one has shape {array.shape} "
                         "(colour or vector voxels). Give a labelmap or a .seg.nrrd.")
    labels = np.empty(array.shape, dtype=np.int32)
    top = np.iinfo(np.int32).max
    for k, plane in enumerate(array):
        if not np.isfinite(plane).all():
            raise InputError(f"{path}: the labelmap holds NaN or infinite values; give integer labels (0 = background).")
        rounded = np.rint(plane)
        off = np.abs(rounded - plane) > 1e-3
        if off.any():
            first = (k, *(int(v) for v in np.argwhere(off)[0]))
            raise InputError(f"{path}: value {float(array[first]):g} at voxel (k, j, i) {first} is not an integer label; "
                             "this looks like an image or a probability map. Give a labelmap (0 = background) or a "
                             ".seg.nrrd (threshold a probability map first).")
        if rounded.size and rounded.max() > top:
            raise InputError(f"{path}: label {rounded.max():.0f} is too large (at most {top}); this looks like an image, "
                             "not a labelmap. Give the segmentation file.")
        labels[k] = rounded
    low = int(labels.min()) if labels.size else 0
    if low < 0:
        raise InputError(f"{path}: negative label {low}; labels must be >= 0 (0 = background).")
    return labels


def _native_voxels(path: Path) -> Optional[np.ndarray]:
    """(K, J, I) voxels of a NRRD, NIfTI or MetaImage file in its own voxel type (SimpleITK), or ``None``."""
    import SimpleITK as sitk

    from ._sitk import itk_safe_path

    try:
        with itk_safe_path(path) as safe:
            array = sitk.GetArrayFromImage(sitk.ReadImage(str(safe)))
    except RuntimeError:
        return None
    return array[None] if array.ndim == 2 else array


def _label_voxels(path: Path, data: Any, frame: Optional[int]) -> np.ndarray:
    """The labelmap's voxels with every label as the file stores it.

    :func:`~SDSegLogic.io.read_image` gives intensities: 16-bit gray pictures (PNG, TIFF) scaled to 0..255,
    which would turn labels 1 and 2 into 0.0039 and 0.0078 (and 257 into 1), so a picture's pixels are
    taken unscaled. And float32, exact up to :data:`FLOAT32_EXACT`: above it, labels of 32- or 64-bit integer
    (or float64) voxels would be rounded and neighbouring labels merged (16777217 read as 16777216). Such a
    file is read again in its own voxel type, which must agree voxel for voxel with the float32 read (the same
    layout); a file that cannot be read so is refused rather than scored on merged labels.

    Args:
        data: the :class:`~SDSegLogic.io.readers.ImageData` read from ``path`` (with ``frame``).

    Returns:
        (K, J, I) voxels: ``data.array`` (float32) when it is exact, else the file's own type.

    Raises:
        InputError: labels at or above :data:`FLOAT32_EXACT` that cannot be read exactly.
    """
    original = np.dtype(data.metadata.get("original_dtype", "float32"))
    if data.modality == "photo" and data.array.ndim == 3 and original.kind in "iu" and original.itemsize > 1:
        from ._photo import read_photo

        return read_photo(path, frame)[0]  # what read_image scaled (16-bit) or rounded (32-bit), as stored
    wide = (original.kind in "iu" and original.itemsize > 2) or (original.kind == "f" and original.itemsize > 4)
    if not wide or data.array.ndim != 3 or not any(p.size and np.abs(p).max() >= FLOAT32_EXACT for p in data.array):
        return data.array
    native = _native_voxels(path) if data.metadata.get("format") in ("nrrd", "nifti", "metaimage") else None
    if native is None or native.shape != data.array.shape or not all(
            np.array_equal(n.astype(np.float32), f) for n, f in zip(native, data.array)):
        raise InputError(f"{path}: labels of {FLOAT32_EXACT} and above cannot be read exactly from this file's "
                         f"{original} voxels, so neighbouring labels would merge; renumber the labels below "
                         f"{FLOAT32_EXACT} (e.g. 1, 2, 3, ...), or save the segmentation as .seg.nrrd.")
    return native


def _read_labelmap(path: Path, frame: Optional[int], series: Optional[str]) -> LabelVolume:
    from .readers import read_image

    data = read_image(path, frame=frame, series=series)
    labels = _integral_labels(path, _label_voxels(path, data, frame))
    values = np.unique(np.concatenate([np.unique(plane) for plane in labels]))  # no sorted copy of the volume
    values = values[values > 0]
    if len(values) > MAX_LABELS:
        raise InputError(f"{path}: {len(values)} distinct labels (more than {MAX_LABELS}); this looks like an image, "
                         "not a labelmap. Give the segmentation file.")
    segments = tuple(LabelSegment(f"label {int(v)}", int(v)) for v in values)
    return LabelVolume(path, labels[None], data.geometry, segments, named=False)


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


def _read_seg_nrrd(path: Path) -> LabelVolume:
    import nrrd

    from ._nrrd import _geometry, _spatial_axes, read_nrrd_header
    from .seg_nrrd import validate_seg_header

    header = _legacy_layers(read_nrrd_header(path))
    found = validate_seg_header(header, str(path))
    try:
        data, _ = nrrd.read(str(path), index_order="F")
    except Exception as exc:  # pynrrd raises NRRDError, ValueError, zlib/EOF errors on corrupt data
        raise InputError(f"{path}: the segmentation data cannot be read ({type(exc).__name__}: {exc}); the file is "
                         "truncated or corrupt, save it again from Slicer.") from None
    spatial, others = _spatial_axes(header)
    geometry = _geometry(header, spatial, path)
    # Fortran (x, y, z[, layers first]) -> (layers, K, J, I)
    data = np.moveaxis(data, others + spatial, list(range(data.ndim)))
    if not others:
        data = data[None]
    layers = np.ascontiguousarray(np.transpose(data, (0, 3, 2, 1)))
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
        grid: the grid to place a DICOM SEG on (:mod:`.dicom_seg_read`); required for one, which
            has no grid of its own, and ignored by the other formats.

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
    if path.name.lower().endswith(".seg.nrrd"):
        return _read_seg_nrrd(path)
    return _read_labelmap(path, frame, series)


def segment_table(volume: LabelVolume) -> List[Dict[str, Any]]:
    """Segments as plain dicts (for reports)."""
    return [{"name": s.name, "value": s.value, "layer": s.layer} for s in volume.segments]
