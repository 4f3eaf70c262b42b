"""Output paths of ``sdseg segment``: checked before the model loads, written together.

:func:`check_outputs` validates every output path before the model is loaded, so that a bad one
fails fast; :func:`_write_outputs` stages every output of one input in temporary files and
replaces them together: all of them or none. Heavy collaborators (numpy, the writers) are imported inside functions.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional

from .cli import SEGMENTATION_EXTENSIONS, OutputError, UsageError
from .cli_cancel import interrupts_deferred
from .errors import InputError

if TYPE_CHECKING:
    from .cli_plan import Job

__all__ = ["check_outputs", "check_format_option", "dicom_sources", "FOLDER_OUTPUT_ENDINGS"]

#: endings of the files ``sdseg segment`` names after each input when an output option is a folder
#: (``ct001.prob.nrrd``); the segmentation itself ends in ``.{--format}``. ``sdseg score`` skips the
#: map and picture endings when it lists the cases of a results folder.
FOLDER_OUTPUT_ENDINGS: Dict[str, str] = {"probabilities": ".prob.nrrd", "uncertainty": ".uncertainty.nrrd",
                                         "preview": ".preview.png", "dicom_seg": ".seg.dcm"}


def check_format_option(output: str, fmt: Optional[str]) -> None:
    """Refuse a ``--format`` that contradicts the ending of a file ``-o`` (it names folder outputs' format only).

    ``-o ct.nrrd --format nii.gz`` wrote NRRD without a word: the ending chose the format and
    ``--format`` was ignored.

    Args:
        output: the ``-o`` file name, with a supported segmentation ending.
        fmt: the ``--format`` value given (``"nii.gz"``, ...), or None when the option was not given.

    Raises:
        UsageError: naming both values and the remedy.
    """
    if fmt is None:
        return
    ending = next(e for e in SEGMENTATION_EXTENSIONS if output.lower().endswith(e))
    chosen = ".seg.dcm" if ending == ".dcm" else ending  # ct.dcm is a DICOM SEG as well
    if chosen != "." + fmt:
        raise UsageError(f"--format {fmt}: -o {output} is a file, and its ending {ending} already chooses the "
                         f"{chosen[1:]} format (--format only names the format of outputs written into a folder). "
                         f"Name the file with the ending .{fmt}, or leave out --format.")


def _flag(kind: str) -> str:
    return {"probabilities": "prob-map", "dicom_seg": "dicom-seg"}.get(kind, kind)


def _dicom_seg_kinds(job: Job) -> List[str]:
    """The outputs of ``job`` that are DICOM SEG files (``--dicom-seg``, or ``-o`` ending in ``.dcm``)."""
    return [kind for kind, path in job.outputs.items()
            if kind == "dicom_seg" or (kind == "segmentation" and path.name.lower().endswith(".dcm"))]


def _check_dicom_seg(job: Job) -> None:
    """A DICOM SEG needs highdicom and a DICOM series input; raises before any model work.

    Raises:
        OutputError: highdicom is not installed (naming the output and ``pip install "sdseg[dicom]"``).
        UsageError: the input is not a DICOM series (naming the input and the remedy).
    """
    from .io.dicom_seg import DICOM_SEG_REMEDY
    from .io.sniff import detect_format

    for kind in _dicom_seg_kinds(job):
        path = job.outputs[kind]
        try:
            import highdicom  # noqa: F401 - only whether it imports
        except ImportError:
            raise _output_error(path, "a DICOM SEG needs the optional package highdicom, which is not installed",
                                DICOM_SEG_REMEDY) from None
        if detect_format(job.input) != "dicom":
            raise UsageError(f"{_option(kind)} {path}: a DICOM SEG references the DICOM images it was segmented from, "
                             f"but the input {job.input} is not a DICOM series. Give the DICOM folder (or one file of "
                             "the series) as input, or write a .seg.nrrd instead.")


def dicom_sources(job: Job, image):
    """The source instances, in slice order, for the DICOM SEG outputs of ``job`` (``None`` if it has none).

    Raises:
        GeometryError: the slices cannot be mapped one-to-one to the series' instances.
    """
    if not _dicom_seg_kinds(job):
        return None
    from .io.dicom_sources import load_dicom_sources

    return load_dicom_sources(job.input, image.geometry, job.series)


def _option(kind: str) -> str:
    """The command-line option that names output ``kind``."""
    return "-o" if kind == "segmentation" else f"--{_flag(kind)}"


def _output_error(path: Path, reason: str,
                  remedy: str = "check the folder exists and is writable, and the disk has space") -> OutputError:
    return OutputError(f"cannot write {path}: {reason}; {remedy}.")


def _existing_folder(path: Path) -> Path:
    """The nearest existing ancestor of ``path`` (the folder it will be written in, once created)."""
    folder = Path(os.path.abspath(path)).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _virtual_file_system(folder: Path) -> bool:
    """Whether ``folder`` is on a file system without storage (``/proc``, ``/sys``: no blocks at all)."""
    try:
        return os.statvfs(folder).f_blocks == 0
    except (AttributeError, OSError):  # no statvfs (Windows), or it cannot be examined
        return False


def _unwritable(folder: Path, path: Path, exc: OSError) -> OutputError:
    """Why no file could be created in the existing folder ``folder`` (``exc``), and the remedy that fits."""
    cause = exc.strerror or str(exc)
    other = "choose another output folder"
    if _virtual_file_system(folder):
        return _output_error(path, f"the folder {folder} is on a special (virtual) file system, such as /proc or /sys, "
                                   "that cannot hold ordinary files", f"{other}, on a disk")
    if exc.errno == errno.EROFS:
        return _output_error(path, f"the folder {folder} is on a read-only file system", other)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return _output_error(path, f"this user may not create files in the folder {folder} ({cause})",
                             f"{other} or make this one writable")
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return _output_error(path, f"the disk of the folder {folder} is full ({cause})", f"free space or {other}")
    return _output_error(path, f"no file can be created in the folder {folder} ({cause})", other)


def _probe_folder(folder: Path, path: Path) -> None:
    """Create and remove a temporary file in ``folder``; raises :class:`OutputError` if that fails.

    Ctrl-C is held back from creating the file to removing it, so an interrupt never leaves it behind.
    """
    if not folder.is_dir():
        kind = "a file" if folder.is_file() else "a device or another special file"
        raise _output_error(path, f"{folder} is {kind}, not a folder", "choose an output path in a folder")
    with interrupts_deferred():
        try:
            handle, name = tempfile.mkstemp(prefix=".sdseg-", suffix=".probe", dir=str(folder))
        except OSError as exc:
            raise _unwritable(folder, path, exc) from None
        os.close(handle)
        os.unlink(name)


def check_outputs(jobs: List[Job]) -> None:
    """Validate every output path before the model is loaded, so that a bad one fails fast.

    Raises:
        UsageError: an output names an existing folder or the input itself, or has a file name
            longer than its file system allows; a DICOM SEG output of an input that is not a DICOM series.
        OutputError: its folder (or the nearest existing folder above it) is not a writable folder;
            a DICOM SEG output without highdicom installed.
    """
    from .io.atomic import check_name_length, check_output_path

    probed = set()
    for job in jobs:
        _check_dicom_seg(job)
        for kind, path in job.outputs.items():
            folder = _existing_folder(path)
            try:  # first: stat() of a name that is too long raises OSError
                check_name_length(path, folder)
            except InputError as exc:
                raise UsageError(f"{_option(kind)} {exc}") from None
            if path.is_dir():
                raise UsageError(f"{_option(kind)} {path}: is an existing folder; choose a file name that is not a "
                                 "folder, or remove the folder.")
            if folder not in probed:
                _probe_folder(folder, path)
                probed.add(folder)
            if path.parent.is_dir():
                try:
                    check_output_path(path, job.input, job.series)
                except InputError as exc:
                    raise UsageError(str(exc)) from None


def _write_one(kind: str, temp: Path, job: Job, image, result, card, sources) -> None:
    """Write output ``kind`` of ``job`` to the temporary file ``temp``."""
    import numpy as np

    from .io import write_float_volume, write_preview, write_segmentation

    if kind in _dicom_seg_kinds(job):
        from .io.dicom_seg import write_dicom_seg

        write_dicom_seg(temp, result, card, sources, input_path=job.input)
    elif kind == "segmentation":
        write_segmentation(temp, result, card, input_path=job.input)
    elif kind == "preview":
        write_preview(temp, image, result, card, input_path=job.input)
    else:  # multi-class: P(any segment) and the summed variance (already so with collapse_classes)
        volume = result.probabilities if kind == "probabilities" else result.variance
        if volume.ndim == 4:
            volume = 1.0 - volume[0] if kind == "probabilities" else volume.sum(axis=0)
        write_float_volume(temp, np.asarray(volume, np.float32), result.geometry, input_path=job.input)


def _make_folders(path: Path, created: List[Path]) -> None:
    """Create the missing folders above ``path``, appending each one to ``created`` as it is made.

    A folder that appears meanwhile (made by another process) is used but not counted as created.
    """
    missing, folder = [], Path(path).parent
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
            created.append(folder)


def _remove_empty(created: List[Path]) -> None:
    """Remove the folders of ``created`` that are still empty, last created first; the others stay."""
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _replace_error(exc) -> OutputError:
    """The error of a rename that failed in :func:`_write_outputs` (``exc``: a ReplaceError).

    It names the output that failed and says which outputs are as before: all of them, unless an already
    replaced one could not be put back (then those are named as new).
    """
    path = exc.destination
    if exc.not_restored:
        new = ", ".join(str(p) for p in exc.not_restored)
        state = (f"these outputs could not be put back and are from this run: {new}; the other outputs of "
                 "this input are unchanged")
    else:
        state = "every output of this input is unchanged (none was replaced)"
    if path.is_dir() and not path.is_symlink():
        remedy = f"{path} is now a folder (made after the outputs were checked); remove it or choose another name"
    else:
        remedy = "check the folder is writable and the disk has space"
    return _output_error(path, f"{exc.strerror}; {state}", remedy)


def _write_outputs(job: Job, image, result, card, sources=None) -> Dict[str, str]:
    """Write every output of ``job`` together: all to temporary files first, then replace them all or none.

    ``sources`` are the DICOM source instances of its DICOM SEG outputs (:func:`dicom_sources`).

    Guarantee: after this call the outputs of the input are either all from this run or all as they were
    before it (a missing one still missing). If an output fails to be written, every temporary file is
    removed and no destination changes. If a rename fails partway (a folder of that name appeared after
    :func:`check_outputs`, say), the outputs already replaced get their previous files back (those kept
    aside: :func:`~SDSegLogic.io.atomic.replace_together`) and the error names the output that failed; the
    rare output that cannot be put back is named in the error as new. Either way the folders created for
    the outputs are removed again (those that existed before stay). Ctrl-C is held back while the staged
    files are renamed (:func:`~SDSegLogic.cli_cancel.interrupts_deferred`).

    Raises:
        OutputError: a folder cannot be created or a file cannot be written or replaced (naming the
            destination, and which outputs are unchanged).
        InputError: a writer refused the result (see :mod:`SDSegLogic.io.writers`).
    """
    from .io.atomic import ReplaceError, atomic_output, replace_together

    targets = {kind: path for kind, path in job.outputs.items() if kind != "uncertainty" or result.variance is not None}
    current = "segmentation"  # the output being handled: the one named if something fails
    created: List[Path] = []
    try:
        for current, path in targets.items():
            _make_folders(path, created)
        with contextlib.ExitStack() as stack:  # leaving it with an error removes the temporary files
            staged = {}
            for current, path in targets.items():
                staged[current] = stack.enter_context(atomic_output(path, replace=False))
            for current, temp in staged.items():
                _write_one(current, temp, job, image, result, card, sources)
            with interrupts_deferred():
                replace_together([(staged[kind], targets[kind]) for kind in staged])
    except ReplaceError as exc:
        _remove_empty(created)
        raise _replace_error(exc) from None
    except OSError as exc:
        _remove_empty(created)
        raise _output_error(targets[current], str(exc.strerror or exc)) from None
    except BaseException:
        _remove_empty(created)
        raise
    return {kind: str(path) for kind, path in targets.items()}
