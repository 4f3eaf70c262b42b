"""``sdseg segment``'s plan: one job per input (or frame), its output paths, checked before any model work.

Kept apart from :mod:`SDSegLogic.cli_segment` (which runs the jobs): naming the outputs after the
inputs, refusing empty paths, clashing names and an output over an input need no torch.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .cli import DICOM_SEG_EXTENSIONS, FLOAT_EXTENSIONS, SEGMENTATION_EXTENSIONS, UsageError
from .cli_frames import FRAME_ALL, expand_frames
from .cli_outputs import FOLDER_OUTPUT_ENDINGS, _flag, _option, check_format_option
from .cli_sampling import check_sampling_counts

__all__ = ["Job", "plan_jobs", "input_stem"]

_INPUT_SUFFIXES = (".seg.nrrd", ".seg.dcm", ".nii.gz", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd", ".png", ".jpg", ".jpeg",
                   ".tif", ".tiff", ".bmp", ".dcm")


@dataclass
class Job:
    """One input (or one frame of a 4-D input) and the files to write for it.

    Attributes:
        input: the image file or DICOM folder.
        outputs: kind -> path.
        series: the DICOM series to read (``None``: the default).
        frame: the frame of a 4-D input to read (``--frame N``, or one of ``--frame all``).
        frames: the input's frame count when ``--frame all`` split it into one job per frame.
    """

    input: Path
    outputs: Dict[str, Path] = field(default_factory=dict)
    series: Optional[str] = None
    frame: Optional[int] = None
    frames: Optional[int] = None


def input_stem(path: Path) -> str:
    """``ct.nii.gz`` -> ``ct``; a DICOM folder -> its name."""
    name = path.name if path.name else path.resolve().name
    lower = name.lower()
    for suffix in _INPUT_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _has_extension(path: str, extensions) -> bool:
    return path.lower().endswith(tuple(extensions))


def plan_jobs(args: argparse.Namespace) -> List[Job]:
    """Output paths of every input (one job per frame with ``--frame all``); raises :class:`UsageError`."""
    _refuse_empty_paths(args)
    inputs = [Path(p) for p in args.inputs]
    out = args.output
    folder_mode = len(inputs) > 1 or _is_dir(out) or out.endswith(("/", os.sep))
    extras = {"probabilities": args.prob_map, "uncertainty": args.uncertainty, "preview": args.preview,
              "dicom_seg": getattr(args, "dicom_seg", None)}
    check_sampling_counts(args)
    if args.uncertainty and args.samples < 2:
        raise UsageError("--uncertainty needs --samples 2 or more (the variance over one sample is zero).")
    frame = getattr(args, "frame", None)
    jobs = [Job(p, series=getattr(args, "series", None), frame=frame if isinstance(frame, int) else None)
            for p in inputs]
    if folder_mode:
        stems = [input_stem(p).casefold() for p in inputs]  # CT.nrrd and ct.nii.gz: one output on macOS and Windows
        seen = Counter(stems)
        clashes = sorted({input_stem(p) for p, s in zip(inputs, stems) if seen[s] > 1})
        if clashes:
            raise UsageError(f"several inputs are named {clashes} (ignoring case, as macOS and Windows file systems do); "
                             "their outputs would overwrite each other. Rename or run separately.")
        if _has_extension(out, SEGMENTATION_EXTENSIONS) and not _is_dir(out):
            raise UsageError(f"-o {out}: with {len(inputs)} inputs -o must be a folder (outputs are named after the inputs).")
        for kind, value in extras.items():
            if value and _has_extension(value, FLOAT_EXTENSIONS + (".png",) + DICOM_SEG_EXTENSIONS) \
                    and not _is_dir(value):
                raise UsageError(f"--{_flag(kind)} {value}: -o {out} is a folder (outputs named after the inputs), so "
                                 "this must be a folder too; give a folder, or -o a file name for one input.")
        for job in jobs:
            stem = input_stem(job.input)  # as the user spelled it; only the clash check ignores case
            job.outputs["segmentation"] = Path(out) / f"{stem}.{args.format or 'seg.nrrd'}"
            for kind, value in extras.items():
                if value:
                    job.outputs[kind] = Path(value) / f"{stem}{FOLDER_OUTPUT_ENDINGS[kind]}"
    else:
        if not _has_extension(out, SEGMENTATION_EXTENSIONS):
            raise UsageError(f"-o {out}: unsupported extension; use one of {', '.join(SEGMENTATION_EXTENSIONS)} or a folder.")
        check_format_option(out, getattr(args, "format", None))
        jobs[0].outputs["segmentation"] = Path(out)
        for kind, value in extras.items():
            if not value:
                continue
            allowed = {"preview": (".png",), "dicom_seg": DICOM_SEG_EXTENSIONS}.get(kind, FLOAT_EXTENSIONS)
            if not _has_extension(value, allowed) or value.lower().endswith(".seg.nrrd"):
                raise UsageError(f"--{_flag(kind)} {value}: unsupported extension; use one of {', '.join(allowed)}.")
            jobs[0].outputs[kind] = Path(value)
    if frame == FRAME_ALL:
        jobs = expand_frames(jobs)
    _check_distinct(jobs, named_after_inputs=folder_mode)
    return jobs


def _refuse_empty_paths(args: argparse.Namespace) -> None:
    """An empty INPUT or output path (``-o "$OUT"`` with ``OUT`` unset) would mean the current folder: refuse it."""
    hint = "(is a shell variable empty?)"
    for number, text in enumerate(args.inputs, start=1):
        if not str(text).strip():
            raise UsageError(f"INPUT {number} is an empty path ({text!r}); give an image file or a DICOM folder {hint}.")
    options = {"-o": args.output, "--prob-map": args.prob_map, "--uncertainty": args.uncertainty,
               "--preview": args.preview, "--dicom-seg": getattr(args, "dicom_seg", None)}
    for option, value in options.items():
        if value is not None and not str(value).strip():
            leave = "" if option == "-o" else ", or leave the option out"
            raise UsageError(f"{option} {value!r}: an empty path; give a file or folder name{leave} {hint}.")


def _is_dir(path: str) -> bool:
    """``Path(path).is_dir()``, False where the path cannot be examined (a name too long for the file system)."""
    try:
        return Path(path).is_dir()
    except OSError:
        return False


def _check_distinct(jobs: List[Job], named_after_inputs: bool = False) -> None:
    """Refuse an output over an input, or one path for two outputs (compared ignoring case, as macOS and Windows do).

    Paths are compared with symbolic links resolved: ``-o out/x.nrrd --prob-map link/x.nrrd`` with
    ``link`` -> ``out`` names one file, which would keep only the output renamed last.
    ``named_after_inputs``: the outputs are files in folders, named after the inputs (the remedy differs).
    """
    inputs = {os.path.realpath(j.input).casefold() for j in jobs}
    seen: Dict[str, Tuple[str, Path]] = {}
    for job in jobs:
        for kind, path in job.outputs.items():
            key = os.path.realpath(path).casefold()
            if key in inputs:
                remedy = "choose another name"
                if named_after_inputs:  # the name comes from the input: only the folder (or the format) can change
                    remedy = (f"outputs in a folder are named after the inputs, so give {_option(kind)} another "
                              "folder" + (" or another --format" if kind == "segmentation" else ""))
                raise UsageError(f"{path}: the {kind} output would overwrite an input; {remedy}.")
            if key in seen:
                other, source = seen[key]
                of = f" (of {source} and of {job.input})" if source != job.input else ""
                raise UsageError(f"{path}: used for both the {other} and the {kind} output{of}; choose distinct names.")
            seen[key] = (kind, job.input)
