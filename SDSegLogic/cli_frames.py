"""``sdseg segment --frame all``: split each 4-D input into one job per frame, before any model work.

The frame count comes from the header alone (NRRD, NIfTI, MetaImage, multi-page pictures), so the
outputs of every frame are planned and checked up front like any other output. Frame ``k`` of
``NAME`` is written as ``NAME.frameKKK.EXT`` (``cine.frame000.seg.nrrd``, ``cine.frame001.seg.nrrd``,
...; at least three digits, more when the count needs them, so that sorting by name sorts by frame).
Heavy collaborators (SimpleITK, pynrrd, Pillow) are imported inside functions.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from .cli import FRAME_ALL, UsageError
from .cli_outputs import FOLDER_OUTPUT_ENDINGS, _dicom_seg_kinds, _option

if TYPE_CHECKING:
    from .cli_plan import Job

__all__ = ["FRAME_ALL", "count_frames", "frame_path", "expand_frames", "frame_fields", "summarise"]

# Endings kept whole after the frame tag (``cine.frame000.prob.nrrd``, not ``cine.prob.frame000.nrrd``).
_COMPOUND_ENDINGS = (".seg.nrrd", *FOLDER_OUTPUT_ENDINGS.values(), ".nii.gz")


def count_frames(path: Path) -> Optional[int]:
    """Frames along the non-spatial axis of a 4-D image, read from its header only (no voxels).

    Args:
        path: an input image (file or DICOM folder).

    Returns:
        The frame count of a 4-D image (time series, multi-echo, multi-page picture), 1 for a 4-D
        image with a single frame; ``None`` for a 3-D or colour image, a DICOM series, or a header
        that cannot be read (the reader reports that when the input's turn comes).
    """
    from .io.sniff import detect_format

    try:
        fmt = detect_format(path)
        if fmt == "nrrd":
            return _nrrd_frames(path)
        if fmt in ("nifti", "metaimage"):
            return _sitk_frames(path, fmt)
        if fmt == "dicom":
            return None  # a series is 3-D (an enhanced multi-frame file is one 3-D stack, or refused by the reader)
        from .io._photo import photo_size

        pages = photo_size(path)[3]
        return pages if pages > 1 else None
    except Exception:  # noqa: BLE001 - an unreadable header is reported by the reader, at this input's turn
        return None


def _nrrd_frames(path: Path) -> Optional[int]:
    from .io._nrrd import _COLOUR_KINDS, _spatial_axes, read_nrrd_header

    if path.name.lower().endswith(".seg.nrrd"):
        return None  # a segmentation, refused by the reader
    header = read_nrrd_header(path)
    spatial, others = _spatial_axes(header)
    if len(others) != 1:
        return None
    kinds = [str(k).lower() for k in header.get("kinds", ["domain"] * int(header["dimension"]))]
    count = int(header["sizes"][others[0]])
    return None if kinds[others[0]] in _COLOUR_KINDS and count in (3, 4) else count


def _sitk_frames(path: Path, fmt: str) -> Optional[int]:
    import SimpleITK as sitk

    from .io._sitk import itk_safe_path

    if fmt == "nifti":  # these headers crash ITK: never hand them to it, here either
        from .io._nifti import read_nifti_header
        from .io._nifti_header_guard import check_nifti_crash_prone

        check_nifti_crash_prone(path, read_nifti_header(path))
    with itk_safe_path(path) as safe:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(safe))
        reader.ReadImageInformation()
    components = int(reader.GetNumberOfComponents())
    colour = components in (3, 4) and reader.GetPixelID() in (sitk.sitkVectorUInt8, sitk.sitkVectorUInt16)
    if reader.GetDimension() == 4:
        return int(reader.GetSize()[3])
    return components if components > 1 and not colour else None


def frame_path(path: Path, frame: int, count: int) -> Path:
    """``out.seg.nrrd`` -> ``out.frame002.seg.nrrd``: the output of ``frame`` (of ``count``) beside ``path``."""
    name = path.name
    ending = next((name[-len(e):] for e in _COMPOUND_ENDINGS if name.lower().endswith(e)),
                  path.suffix)  # as the user spelled it: CT.SEG.NRRD -> CT.frame000.SEG.NRRD
    width = max(3, len(str(count - 1)))
    return path.with_name(f"{name[:len(name) - len(ending)]}.frame{frame:0{width}d}{ending}")


def expand_frames(jobs: List[Job]) -> List[Job]:
    """One job per frame of every 4-D input (``--frame all``); other inputs keep their single job.

    Raises:
        UsageError: a DICOM SEG output was asked for a 4-D input (it holds one 3-D segmentation of
            a DICOM series).
    """
    expanded: List[Job] = []
    for job in jobs:
        count = count_frames(job.input)
        if count is None:
            expanded.append(job)
            continue
        if count == 1:  # a 4-D header holding one volume: read it, named as a 3-D input's output
            expanded.append(dataclasses.replace(job, frame=0))
            continue
        dicom_seg = _dicom_seg_kinds(job)
        if dicom_seg:
            kind = dicom_seg[0]
            raise UsageError(f"{_option(kind)} {job.outputs[kind]}: {job.input} has {count} frames and --frame all "
                             "segments each one, but a DICOM SEG holds one 3-D segmentation of a DICOM series. "
                             "Write .seg.nrrd files (one per frame) instead, or choose one frame with --frame N.")
        for frame in range(count):
            outputs = {kind: frame_path(path, frame, count) for kind, path in job.outputs.items()}
            expanded.append(dataclasses.replace(job, outputs=outputs, frame=frame, frames=count))
    return expanded


def frame_fields(job: Job) -> Dict[str, int]:
    """The ``frame`` event field of a job that is one frame of a 4-D input split by ``--frame all``."""
    return {"frame": job.frame} if job.frames is not None else {}


def summarise(finished: List[Tuple[Job, str]]) -> Tuple[Dict[str, str], Dict[str, Dict[str, str]]]:
    """The ``done`` event's ``outputs`` {input: segmentation} and ``frame_outputs`` {input: {frame: segmentation}}."""
    outputs: Dict[str, str] = {}
    frames: Dict[str, Dict[str, str]] = {}
    for job, segmentation in finished:
        if job.frames is None:
            outputs[str(job.input)] = segmentation
        else:
            frames.setdefault(str(job.input), {})[str(job.frame)] = segmentation
    return outputs, frames
