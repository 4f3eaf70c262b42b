"""``sdseg segment``'s checks of its inputs that need no model: done before the model loads (tens of seconds).

A path that does not exist, a file whose content is no supported image (or does not match its ending), and a
folder that cannot be a DICOM series (empty, or only images of other formats) are refused at once with the
reader's own words, instead of after the model was loaded for nothing. So is ``--series`` when no input is DICOM:
a NRRD, NIfTI, MetaImage or picture holds one image, so the option would be ignored silently (in a run that also
has DICOM inputs, it picks their series and the other inputs ignore it, as 3-D inputs ignore ``--frame``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from .errors import InputError
from .io._dicom_messages import no_series_text
from .io.sniff import detect_format, format_from_extension

__all__ = ["check_inputs_before_loading"]


def _may_hold_dicom(folder: Path) -> bool:
    """Whether ``folder`` holds a file that could be DICOM: named so, or without an image ending (``IM0001``)."""
    try:
        return any(entry.is_file() and format_from_extension(entry) in (None, "dicom") for entry in folder.iterdir())
    except OSError:  # unlistable: the reader says why
        return True


def check_inputs_before_loading(inputs: Iterable[Path], series: Optional[str] = None) -> None:
    """Refuse a run none of whose inputs a model could segment (each path checked once).

    A run with at least one usable input goes on: the others are reported one by one as the run reaches them.

    Args:
        inputs: the run's input paths (files, or folders read as one DICOM series).
        series: ``--series``: the DICOM series to read, or ``None``.

    Raises:
        UsageError: ``series`` given, but no input is DICOM (a folder or a DICOM file).
        InputError: naming the missing paths; when no input is usable, each one's reason: a file's unsupported or
            mismatched content (:func:`detect_format`), a folder without any file that could be DICOM (naming the
            images it holds and how to segment them).
    """
    paths = list(dict.fromkeys(Path(p) for p in inputs))
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(f"input not found: {', '.join(missing)}; check the path(s).")
    problems, formats = [], {}
    for path in paths:
        try:
            if path.is_dir():
                if not _may_hold_dicom(path):
                    raise InputError(no_series_text(path, path))
            formats[path] = detect_format(path)
        except InputError as exc:
            problems.append(exc)
    if problems and len(problems) == len(paths):  # with one usable input, the run goes on and reports the others
        if len(problems) == 1:
            raise problems[0]
        raise InputError(f"none of the {len(paths)} inputs can be segmented:\n" + "\n".join(f"  {p}" for p in problems))
    if series is not None and formats and "dicom" not in formats.values():
        from .cli import UsageError

        given = ", ".join(f"{path} is {_FORMAT_NAMES.get(fmt, fmt)}" for path, fmt in list(formats.items())[:3])
        raise UsageError(f"--series {series}: picks a series in a DICOM folder, but no input is DICOM ({given}), and "
                         "such a file holds one image; leave --series out, or give the DICOM folder.")


#: format names in messages
_FORMAT_NAMES = {"nrrd": "NRRD", "nifti": "NIfTI", "metaimage": "MetaImage", "png": "a PNG picture",
                 "jpeg": "a JPEG picture", "tiff": "a TIFF picture", "bmp": "a BMP picture"}
