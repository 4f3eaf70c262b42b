"""``sdseg segment``'s checks of its inputs that need no model: done before the model loads (tens of seconds).

A path that does not exist, a file whose content is no supported image (or does not match its ending), and a
folder that cannot be a DICOM series (empty, or only images of other formats) are refused at once with the
reader's own words, instead of after the model was loaded for nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

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


def check_inputs_before_loading(inputs: Iterable[Path]) -> None:
    """Refuse a run none of whose inputs a model could segment (each path checked once).

    A run with at least one usable input goes on: the others are reported one by one as the run reaches them.

    Args:
        inputs: the run's input paths (files, or folders read as one DICOM series).

    Raises:
        InputError: naming the missing paths; when no input is usable, each one's reason: a file's unsupported or
            mismatched content (:func:`detect_format`), a folder without any file that could be DICOM (naming the
            images it holds and how to segment them).
    """
    paths = list(dict.fromkeys(Path(p) for p in inputs))
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(f"input not found: {', '.join(missing)}; check the path(s).")
    problems = []
    for path in paths:
        try:
            if path.is_dir():
                if not _may_hold_dicom(path):
                    raise InputError(no_series_text(path, path))
            else:
                detect_format(path)
        except InputError as exc:
            problems.append(exc)
    if problems and len(problems) == len(paths):  # with one usable input, the run goes on and reports the others
        if len(problems) == 1:
            raise problems[0]
        raise InputError(f"none of the {len(paths)} inputs can be segmented:\n" + "\n".join(f"  {p}" for p in problems))
