"""Shared helpers for the geometry, I/O and pipeline tests: cards, a threshold predictor, marker volumes.

The :class:`ThresholdPredictor` is a real, deterministic :class:`SDSegLogic.segment.SlicePredictor`
(probability = 1 where the mean of the 3 input channels is > 0), so the tests check geometry and
bookkeeping independently of model quality.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import List, Optional, Sequence, Tuple

import numpy as np

from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.model_card import IntensityMapping, ModelCard, SegmentClass

#: background and marker values (HU); they map to -1 and +1 under the default CT window
BACKGROUND = -1000.0
MARKER = 2000.0
#: corners (k, j, i) of the 2x2x2 blocks of an asymmetric marker in a (6, 10, 12) volume: an "L" and two
#: single blocks. Blocks (not single voxels) survive the bilinear resize to the model grid and back.
MARKER_BLOCKS = ((0, 1, 2), (0, 3, 2), (0, 3, 4), (2, 6, 8), (4, 1, 9))
MARKER_VOXELS = tuple(sorted({(k + a, j + b, i + c) for k, j, i in MARKER_BLOCKS
                              for a in (0, 1) for b in (0, 1) for c in (0, 1)}))
SHAPE_KJI = (6, 10, 12)


def make_card(num_classes: int = 1, orientation: str = "LPS", kind: str = "window", channels: int = 1,
              model_id: str = "test-model", names: Optional[Sequence[str]] = None) -> ModelCard:
    """A valid model card with ``num_classes`` foreground classes (label values 1..n)."""
    names = list(names) if names is not None else ["liver", "spleen", "kidney", "aorta", "tumour"][:num_classes]
    colours = [(0.86, 0.5, 0.4), (0.6, 0.2, 0.8), (0.2, 0.7, 0.3), (0.9, 0.1, 0.1), (0.1, 0.1, 0.9)]
    classes = tuple(
        SegmentClass(
            name=names[n], label_value=n + 1, color=colours[n % len(colours)],
            terminology={"category": ("SCT", "123037004", "Anatomical Structure"),
                         "type": ("SCT", str(10200004 + n), names[n].capitalize())},
        )
        for n in range(num_classes)
    )
    intensity = {"window": IntensityMapping("window", -125.0, 275.0), "rgb": IntensityMapping("rgb", None, None),
                 "minmax": IntensityMapping("minmax", None, None)}[kind]
    return ModelCard(model_id=model_id, version="1.2.3", modality="CT" if kind == "window" else "photo",
                     input_channels=channels, intensity=intensity, orientation=orientation, classes=classes)


class ThresholdPredictor:
    """Deterministic :class:`SlicePredictor`: foreground where the channel mean is > 0.

    Multi-class cards: class index = number of thresholds in ``bounds`` the channel mean exceeds
    (one-hot probabilities). Records every batch size it was called with.
    """

    def __init__(self, card: ModelCard, sample_size: int = 60, bounds: Sequence[float] = (0.0,)):
        self.model_card = card
        self.config = SimpleNamespace(sample_size=sample_size)
        self.bounds = tuple(bounds)
        self.calls: List[Tuple[int, ...]] = []

    def predict_probabilities(self, images: np.ndarray, num_inference_steps: int = 1, num_samples: int = 1,
                              seed: int = 0):
        self.calls.append(tuple(images.shape))
        if images.dtype != np.float32 or images.min() < -1.0 or images.max() > 1.0:
            raise ValueError(f"model input must be float32 in [-1, 1], got {images.dtype} {images.min()}..{images.max()}")
        mean = images.mean(axis=1)
        classes = self.model_card.num_network_classes
        if classes == 1:
            probs = (mean > self.bounds[0]).astype(np.float32)[:, None]
        else:
            index = np.digitize(mean, self.bounds)
            probs = np.stack([(index == c) for c in range(classes)], axis=1).astype(np.float32)
        variance = probs * (1 - probs) + 0.01 if num_samples > 1 else None
        return probs, variance


def marker_array(shape_kji: Sequence[int] = SHAPE_KJI, voxels=MARKER_VOXELS) -> np.ndarray:
    """float32 (K, J, I) background volume with ``voxels`` set to :data:`MARKER`."""
    volume = np.full(tuple(shape_kji), BACKGROUND, dtype=np.float32)
    for v in voxels:
        volume[v] = MARKER
    return volume


def signed_permutations() -> List[np.ndarray]:
    """The 48 signed 3x3 permutation matrices (columns = axis directions)."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            d = np.zeros((3, 3))
            for c in range(3):
                d[perm[c], c] = signs[c]
            out.append(d)
    return out


def rotation(z_deg: float, x_deg: float) -> np.ndarray:
    """Rotation about z by ``z_deg`` then about x by ``x_deg`` (an oblique direction matrix)."""
    a, b = np.radians(z_deg), np.radians(x_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rx @ rz


def geometry_for(direction: np.ndarray, shape_kji: Sequence[int] = SHAPE_KJI,
                 spacing: Sequence[float] = (0.5, 0.9, 7.0), origin: Sequence[float] = (12.5, -40.25, 101.0)):
    k, j, i = shape_kji
    return ImageGeometry(tuple(spacing), tuple(origin), direction, (i, j, k))


def world_centroid(mask: np.ndarray, geometry: ImageGeometry) -> np.ndarray:
    """LPS centroid (mm) of the voxels of ``mask`` (K, J, I) that are > 0."""
    k, j, i = np.nonzero(np.asarray(mask) > 0)
    return geometry.index_to_world(np.stack([i, j, k], axis=1).astype(np.float64)).mean(axis=0)


def sitk_image(array: np.ndarray, geometry: ImageGeometry):
    """A SimpleITK image of ``array`` (K, J, I) with ``geometry``."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array)
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(tuple(geometry.direction_matrix.reshape(-1)))
    return image


def write_dicom_series(folder, array: np.ndarray, geometry: ImageGeometry, series_uid: str = "1.2.826.0.1.3680043.2.1125.1",
                       slope: float = 1.0, intercept: float = -1024.0, slopes: Optional[Sequence[float]] = None,
                       skip: Sequence[int] = (), shift: Optional[Sequence[float]] = None,
                       prefix: str = "slice", description: Optional[str] = None) -> List[str]:
    """Write ``array`` (K, J, I, in HU) as a CT DICOM series, one file per k-slice, with pydicom.

    Stored values are ``(HU - intercept) / slope`` as int16 (``slopes`` per slice overrides ``slope``).
    ``skip`` leaves slices out (missing-slice tests); ``shift`` adds a per-slice lateral offset (mm
    vector multiplied by k) to imitate gantry tilt. ``description`` sets SeriesDescription.
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    names = []
    d = geometry.direction_matrix
    study = "1.2.826.0.1.3680043.2.1125.99"
    for k in range(array.shape[0]):
        if k in skip:
            continue
        s = slopes[k] if slopes is not None else slope
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = f"{series_uid}.{k + 1}"
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        name = str(folder / f"{prefix}_{k:03d}.dcm")
        ds = FileDataset(name, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = study + ".1"
        ds.Modality = "CT"
        if description is not None:
            ds.SeriesDescription = description
        ds.PatientName = "Anonymous"
        ds.PatientID = "0"
        ds.InstanceNumber = k + 1
        position = geometry.index_to_world(np.array([0.0, 0.0, float(k)]))
        if shift is not None:
            position = position + np.asarray(shift) * k
        ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in list(d[:, 0]) + list(d[:, 1])]
        ds.PixelSpacing = [f"{geometry.spacing[1]:.6f}", f"{geometry.spacing[0]:.6f}"]
        ds.SliceThickness = f"{geometry.spacing[2]:.6f}"
        ds.Rows, ds.Columns = array.shape[1], array.shape[2]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope = f"{s:g}"
        ds.RescaleIntercept = f"{intercept:g}"
        stored = np.round((array[k] - intercept) / s).astype(np.int16)
        ds.PixelData = stored.tobytes()
        ds.save_as(name, enforce_file_format=True)
        names.append(name)
    return names


def use_deflate(name: str):
    """Switch :mod:`SDSegLogic.io._deflate` to ``name`` (``"zlib-ng"`` or ``"zlib"``); returns a restore function.

    Skips the calling test when zlib-ng is asked for but not installed.
    """
    import pytest

    from SDSegLogic.io import _deflate

    before = _deflate.implementation()
    if _deflate.select(name) != name:
        _deflate.select(before)
        pytest.skip("zlib-ng is not installed")
    return lambda: _deflate.select(before)



ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"


def write_enhanced_dicom(name, array: np.ndarray, geometry: ImageGeometry, order: Optional[Sequence[int]] = None,
                         intercept: float = -1024.0, slopes: Optional[Sequence[float]] = None) -> None:
    """Write ``array`` (K, J, I, in HU) as one Enhanced CT file, frame ``n`` holding slice ``order[n]``.

    Orientation, pixel spacing and (without ``slopes``) the rescale are shared functional groups;
    each frame has its own PlanePositionSequence (and, with ``slopes``, its own rescale).
    """
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence as Items
    from pydicom.uid import ExplicitVRLittleEndian

    order = list(range(array.shape[0])) if order is None else list(order)
    d = geometry.direction_matrix
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ENHANCED_CT, "1.2.826.0.1.3680043.2.1125.7.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(name), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = ENHANCED_CT, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.826.0.1.3680043.2.1125.7", "1.2.826.0.1.3680043.2.1125.7.2"
    ds.FrameOfReferenceUID, ds.Modality, ds.PatientName, ds.PatientID = "1.2.826.0.1.3680043.2.1125.7.3", "CT", "A", "0"
    ds.Rows, ds.Columns, ds.NumberOfFrames, ds.SamplesPerPixel = array.shape[1], array.shape[2], len(order), 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1

    def item(**fields):
        entry = Dataset()
        for key, value in fields.items():
            setattr(entry, key, value)
        return Items([entry])

    shared = Dataset()
    shared.PixelMeasuresSequence = item(PixelSpacing=[f"{geometry.spacing[1]:.6f}", f"{geometry.spacing[0]:.6f}"],
                                        SliceThickness=f"{geometry.spacing[2]:.6f}")
    shared.PlaneOrientationSequence = item(ImageOrientationPatient=[f"{v:.8f}" for v in [*d[:, 0], *d[:, 1]]])
    if slopes is None:
        shared.PixelValueTransformationSequence = item(RescaleSlope="1", RescaleIntercept=f"{intercept:g}",
                                                       RescaleType="HU")
    ds.SharedFunctionalGroupsSequence = Items([shared])
    frames, stored = [], []
    for n, k in enumerate(order):
        frame = Dataset()
        position = geometry.index_to_world(np.array([0.0, 0.0, float(k)]))
        frame.PlanePositionSequence = item(ImagePositionPatient=[f"{v:.6f}" for v in position])
        slope = 1.0 if slopes is None else slopes[n]
        if slopes is not None:
            frame.PixelValueTransformationSequence = item(RescaleSlope=f"{slope:g}", RescaleIntercept=f"{intercept:g}",
                                                          RescaleType="HU")
        frames.append(frame)
        stored.append(np.round((array[k] - intercept) / slope).astype(np.int16))
    ds.PerFrameFunctionalGroupsSequence = Items(frames)
    ds.PixelData = np.stack(stored).tobytes()
    ds.save_as(str(name), enforce_file_format=True)


SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def write_dicom_picture(name, pixels: bytes, rows: int, columns: int, photometric: str, samples: int, *, bits: int = 8,
                        sop_class: str = SECONDARY_CAPTURE, modality: str = "OP", **fields) -> None:
    """One uncompressed 2-D DICOM image of unsigned ``bits``-bit samples (``pixels``: its PixelData), written with pydicom.

    ``fields`` are further data elements by keyword (``PlanarConfiguration``, palette tables, ...).
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(name), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = modality, "A", "0"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, columns, samples, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    for key, value in fields.items():
        setattr(ds, key, value)
    ds.PixelData = pixels
    ds.save_as(str(name), enforce_file_format=True)


def turn_revealing_picture(mode: str) -> np.ndarray:
    """A 20 x 30 uint8 picture any turn or mirror shows in: a red top band, a green left band and one odd pixel.

    ``mode`` ``"RGB"``: (20, 30, 3); ``"L"``: (20, 30), a grey mix of the three channels.
    """
    picture = np.zeros((20, 30, 3), np.uint8)
    picture[:5, :, 0] = 255
    picture[:, :3, 1] = 200
    picture[12, 17] = (7, 9, 11)
    return picture if mode == "RGB" else picture[..., 0] // 2 + picture[..., 1] // 3 + picture[..., 2]


class ExecuteCounter:
    """Counts ``SimpleITK.ImageFileReader.Execute`` calls (a spy around the real method, not a mock).

    Args:
        monkeypatch: pytest's fixture; the real method is put back when the test ends.
    """

    def __init__(self, monkeypatch):
        import SimpleITK as sitk

        self.calls = 0
        real = sitk.ImageFileReader.Execute

        def counting(reader, *args):
            self.calls += 1
            return real(reader, *args)

        monkeypatch.setattr(sitk.ImageFileReader, "Execute", counting)
