"""Atomic output files: write to a temporary file in the destination folder, then ``os.replace``."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

from ..cli_cancel import interrupts_deferred
from ..errors import InputError
from .durable import flush_to_disk
from .sniff import sniff_content

__all__ = ["atomic_output", "replace_together", "ReplaceError", "check_output_path",
           "check_name_length", "current_umask"]

# Endings that choose a format and are more than the last suffix (SimpleITK picks .nii.gz by both parts).
_COMPOUND_ENDINGS = (".seg.nrrd", ".nii.gz", ".seg.dcm")


def current_umask() -> int:
    """The process umask, read without changing it where the system tells it (Linux >= 4.7: /proc/self/status).

    Elsewhere it is set to 0 and back for an instant; a file another thread creates in that instant (the
    engine's jobs, Slicer saving a scene beside a model import) would get no umask, so that is the fallback only.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_name_length(path: Union[str, Path], folder: Optional[Union[str, Path]] = None) -> None:
    """Refuse a file name longer than ``folder``'s file system allows (255 bytes on most).

    Args:
        path: the output file.
        folder: an existing folder on the file system it will be written to (default: its parent).

    Raises:
        InputError: naming the path, its length and the limit.
    """
    path = Path(path)
    try:
        limit = os.pathconf(str(folder or path.parent), "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or no such folder: the usual limit
        limit = 255
    length = len(os.fsencode(path.name))
    if length > limit:
        raise InputError(f"{path}: the file name is {length} bytes long but the file system allows {limit}; "
                         "choose a shorter output name.")


def _dicom_series_uid(path: Path) -> Optional[str]:
    """SeriesInstanceUID of a DICOM image file (header only, as the DICOM reader lists a folder); None otherwise."""
    import SimpleITK as sitk

    from ._sitk import itk_safe_path, itk_warnings_silenced

    reader = sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    with itk_safe_path(path) as safe, itk_warnings_silenced():
        reader.SetFileName(str(safe))
        try:
            reader.ReadImageInformation()
        except RuntimeError:  # not a DICOM image
            return None
    if not reader.HasMetaDataKey("0020|000e"):
        return None
    return reader.GetMetaData("0020|000e").strip().strip("\0").strip() or None


def _replaces_series_file(path: Path, source: Path, series: Optional[str] = None) -> bool:
    """Whether ``path`` is an existing file of the DICOM series that the input FILE ``source`` is read with.

    A DICOM file names its series (or ``series``, a SeriesInstanceUID, chooses another of its folder):
    the reader reads every file of that series in the folder, so those files are the input too
    (``sdseg segment IM0001.dcm -o IM0002.dcm`` would replace a slice).
    """
    if not (path.is_file() and source.is_file()) or not os.path.samefile(path.parent, source.parent):
        return False
    try:  # a DICOM name or DICOM content (the DICM marker, or a data set stored bare): others are not asked
        with open(path, "rb") as fh:
            marked = sniff_content(fh.read(352)) == "dicom"
    except OSError:  # unreadable: GDCM could not read it either
        return False
    if not marked and path.suffix.lower() not in (".dcm", ".dicom", ".ima"):
        return False
    target = _dicom_series_uid(path)
    read = str(series).strip().strip("\0").strip() if series else _dicom_series_uid(source)
    return target is not None and target == read


def check_output_path(path: Union[str, Path], input_path: Optional[Union[str, Path]] = None,
                      series: Optional[str] = None) -> Path:
    """Validate an output path: parent is an existing folder, not a folder, name not too long, not the input.

    The input is the file (or DICOM folder) ``input_path``, a folder's contents, and the files of the
    DICOM series read when ``input_path`` is one file of it (its own series, or ``series``: the
    SeriesInstanceUID given to the reader).

    Raises:
        InputError: naming the path and the remedy.
    """
    path = Path(path)
    check_name_length(path)  # first: stat() of a name that is too long raises OSError
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give an output file name such as {path / 'segmentation.seg.nrrd'}.")
    if not path.parent.exists():
        raise InputError(f"{path}: the folder {path.parent} does not exist; create it first.")
    if not path.parent.is_dir():
        raise InputError(f"{path}: {path.parent} is a file, not a folder; write the output into a folder.")
    if input_path is not None:
        source = Path(input_path)
        same = path.exists() and source.exists() and os.path.samefile(path, source)
        if same or path.resolve() == source.resolve() or source.resolve() in path.resolve().parents:
            raise InputError(f"{path}: refusing to write over the input image {source}; choose another output name.")
        if _replaces_series_file(path, source, series):
            raise InputError(f"{path}: refusing to write over a file of the input DICOM series of {source}, which "
                             "would destroy a slice of it; choose another output name or folder.")
    return path


@contextlib.contextmanager
def atomic_output(path: Union[str, Path], suffix: Optional[str] = None, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    Args:
        path: final destination.
        suffix: ending of the temporary file (defaults to the destination's format ending in lower
            case, such as ``.nii.gz`` or ``.seg.nrrd``, so that writers choosing a format by extension,
            such as SimpleITK, pick the same one: SimpleITK refuses ``.NII.GZ`` and writes ``.MHA`` as
            an empty file beside a separate ``.mhd``/``.zraw`` pair).
        replace: ``False`` stages only: the temporary file is left for :func:`replace_together`, which
            replaces several destinations all or none (it is still removed on an exception).

    On any exception the temporary file is removed and ``path`` is left untouched; Ctrl-C
    (SIGINT) is held back while the temporary file is created, so an interrupt never leaves it behind.
    """
    path = Path(path)
    if suffix is None:  # only the format's ending: a long dotted name must not make the temporary name too long
        name = path.name
        suffix = next((e for e in _COMPOUND_ENDINGS if name.lower().endswith(e)), path.suffix.lower())
    temp_name = None
    try:
        with interrupts_deferred():  # a Ctrl-C between creating the file and knowing its name would leave it
            fd, temp_name = tempfile.mkstemp(prefix=".sdseg-", suffix=suffix, dir=str(path.parent))
            os.close(fd)
        temp = Path(temp_name)
        yield temp
        if replace:
            os.chmod(temp, 0o666 & ~current_umask())  # mkstemp creates 0600; outputs are ordinary files
            flush_to_disk(temp)  # the data on the disk before the name: a power loss leaves the old file or the new
            os.replace(temp, path)
            flush_to_disk(path.parent)
    except BaseException:
        if temp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
        raise


class ReplaceError(OSError):
    """A destination of :func:`replace_together` could not be replaced; the others were put back.

    Attributes:
        destination: the destination whose rename failed (``strerror``/``errno``: why).
        not_restored: destinations already replaced that could not be put back (usually empty).
    """

    def __init__(self, destination: Path, cause: OSError, not_restored: List[Path]):
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.destination = destination
        self.not_restored = not_restored


def _keep_aside(path: Path) -> Optional[Path]:
    """Keep the file now at ``path`` under a new hidden name beside it; ``None`` if there is none (or a folder).

    A hard link keeps ``path`` in place (readers never miss it); where the file system has none, the file is
    renamed aside (``path`` is then missing until the new file is renamed onto it).
    """
    if not os.path.lexists(path) or (path.is_dir() and not path.is_symlink()):
        return None  # a folder: renaming a file onto it fails, and that failure is reported
    while True:
        aside = path.with_name(f".sdseg-{secrets.token_hex(6)}.replaced")
        try:
            os.link(path, aside, follow_symlinks=False)
            return aside
        except FileExistsError:
            continue
        except OSError:  # no hard links here (FAT, some network shares)
            if os.path.lexists(aside):
                continue
            os.replace(path, aside)
            return aside


def _put_back(path: Path, aside: Optional[Path], *, replaced: bool) -> None:
    """Undo one rename of :func:`replace_together`: the kept file returns to ``path`` (or the new one goes)."""
    if aside is None:
        if replaced:  # nothing was there before: remove the new file
            os.unlink(path)
        return
    os.replace(aside, path)  # two names of one file (a hard link not yet replaced): rename does nothing
    with contextlib.suppress(FileNotFoundError):
        os.unlink(aside)


def replace_together(pairs: Sequence[Tuple[Path, Path]]) -> None:
    """Rename each temporary file onto its destination, all or none.

    Every temporary file gets the permissions of an ordinary new file (0666 less the umask) first.
    Each existing destination is kept aside until every rename has succeeded, then removed; if a rename
    fails, the destinations already replaced get their previous file back (or, if there was none, the
    new file is removed), so no destination ends up from this call while another is from before.
    Callers hold Ctrl-C back around it (:func:`~SDSegLogic.cli_cancel.interrupts_deferred`).

    Args:
        pairs: (temporary file, destination), in the order to rename them; each temporary file is in
            its destination's folder (:func:`atomic_output` with ``replace=False``). Temporary files not renamed stay.

    Raises:
        ReplaceError: naming the destination that failed and any that could not be put back.
    """
    mode = 0o666 & ~current_umask()
    for temp, _ in pairs:  # mkstemp creates 0600; outputs are ordinary files
        os.chmod(temp, mode)
        flush_to_disk(temp)  # the data on the disk before the names (durable.py)
    done: List[Tuple[Path, Optional[Path]]] = []
    not_restored: List[Path] = []
    for temp, path in pairs:
        path = Path(path)
        try:
            aside = _keep_aside(path)
        except OSError as exc:
            failed, cause = path, exc
            break
        try:
            os.replace(temp, path)
        except OSError as exc:
            failed, cause = path, exc
            try:
                _put_back(path, aside, replaced=False)
            except OSError:  # renamed aside and not back: the previous file is missing, say so
                not_restored.append(path)
            break
        done.append((path, aside))
    else:
        for folder in dict.fromkeys(path.parent for path, _ in done):
            flush_to_disk(folder)
        for _, aside in done:
            if aside is not None:
                with contextlib.suppress(OSError):
                    os.unlink(aside)
        return
    for path, aside in reversed(done):
        try:
            _put_back(path, aside, replaced=True)
        except OSError:
            not_restored.append(path)
    raise ReplaceError(failed, cause, not_restored)
