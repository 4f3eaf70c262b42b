"""Atomic output files: write to a temporary file in the destination folder, then ``os.replace``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Union

from ..cli_cancel import interrupts_deferred
from ..errors import InputError

__all__ = ["atomic_output", "check_output_path", "check_name_length", "current_umask"]

# Endings that choose a format and are more than the last suffix (SimpleITK picks .nii.gz by both parts).
_COMPOUND_ENDINGS = (".seg.nrrd", ".nii.gz", ".seg.dcm")


def current_umask() -> int:
    """The process umask (read without changing it for more than an instant)."""
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


def check_output_path(path: Union[str, Path], input_path: Optional[Union[str, Path]] = None) -> Path:
    """Validate an output path: parent is an existing folder, not a folder, name not too long, not the input file.

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
    return path


@contextlib.contextmanager
def atomic_output(path: Union[str, Path], suffix: Optional[str] = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    Args:
        path: final destination.
        suffix: ending of the temporary file (defaults to the destination's format ending in lower
            case, such as ``.nii.gz`` or ``.seg.nrrd``, so that writers choosing a format by extension,
            such as SimpleITK, pick the same one: SimpleITK refuses ``.NII.GZ`` and writes ``.MHA`` as
            an empty file beside a separate ``.mhd``/``.zraw`` pair).

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
        os.chmod(temp, 0o666 & ~current_umask())  # mkstemp creates 0600; outputs are ordinary files
        os.replace(temp, path)
    except BaseException:
        if temp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
        raise
