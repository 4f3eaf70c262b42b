"""One import at a time into the model cache, and what a killed import left behind removed.

:func:`SDSegLogic.model_zip.import_zip` (``sdseg models import``, the Slicer module's import
button) holds an exclusive lock on the cache folder ``<home>`` (``$SDSEG_HOME/models``) from
before it unpacks the zip until the model is in place. Two imports, in two processes or two
threads, therefore run one after the other and each installs a whole model; with ``--force``
the last one wins. The lock is an ``flock`` on the folder itself on POSIX (no file is written)
and a ``msvcrt`` lock on ``<home>/.import.lock`` on Windows; the system drops either when the
process ends, so a killed import never leaves the cache locked.

While it holds the lock, an import knows that no other import is running, so whatever an
import leaves only while it runs is debris of a killed one (:func:`remove_import_debris`):

* staging folders ``<home>/.import-*`` and ``<home>/<id>/.import-*`` are removed;
* ``<home>/<id>/.<version>.old``, the installed copy a ``--force`` import renames aside just
  before it moves the new copy in, is put back when ``<version>`` is missing and still verifies
  (the import was killed between the two renames), and removed otherwise.

Standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional

from .registry import is_folder_safe_id, is_folder_safe_version

__all__ = ["STAGING_PREFIX", "cache_import_lock", "remove_import_debris"]

#: Name prefix of the staging folders an import unpacks into (``tempfile.mkdtemp`` adds 8 characters).
STAGING_PREFIX = ".import-"
_STAGING_RE = re.compile(r"^\.import-[A-Za-z0-9_]{1,32}$")
_ASIDE_RE = re.compile(r"^\.(?P<version>.+)\.old$")
_WINDOWS_LOCK_FILE = ".import.lock"
# flock on a file system that cannot lock (some network shares): the import runs unlocked
_NO_LOCKING = {errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


def _waiting(home: Path) -> str:
    return f"another model import into {home} is running; waiting for it to finish (Ctrl-C to stop waiting)."


@contextlib.contextmanager
def cache_import_lock(home: Path, on_wait: Optional[Callable[[str], None]] = None) -> Iterator[bool]:
    """Hold the import lock of the cache folder ``home`` (an existing folder) for the ``with`` block.

    Args:
        home: the cache root, ``<SDSEG_HOME>/models``.
        on_wait: called once with a sentence for the user when another import holds the lock and
            this one waits for it (there is no time limit: Ctrl-C stops the wait).

    Yields:
        True while the lock is held; False when the file system cannot lock at all (some network
        shares): the import then runs unlocked and must not remove debris.
    """
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        with _windows_lock(home, on_wait) as held:
            yield held
        return
    import fcntl

    fd = os.open(home, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = True
        except BlockingIOError:
            if on_wait is not None:
                on_wait(_waiting(home))
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = True
        except OSError as exc:
            if exc.errno not in _NO_LOCKING:
                raise
            held = False
        yield held
    finally:
        os.close(fd)  # closing the only descriptor of this open file releases the lock


@contextlib.contextmanager
def _windows_lock(home: Path, on_wait: Optional[Callable[[str], None]]) -> Iterator[bool]:  # pragma: no cover
    """``msvcrt`` byte lock on ``<home>/.import.lock``, polled; the file is removed when nobody else has it open."""
    import msvcrt

    path = home / _WINDOWS_LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        told = False
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                break
            except OSError:
                if not told and on_wait is not None:
                    on_wait(_waiting(home))
                told = True
                time.sleep(0.2)
        try:
            yield True
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):  # fails while another import has it open: it is still in use
            os.unlink(path)


def _children(folder: Path) -> List[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:  # unreadable or vanished: nothing of ours can be removed there
        return []


def _is_real_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def remove_import_debris(home: Path) -> List[Path]:
    """Remove or put back what killed imports left in the cache ``home``.

    Call only while holding :func:`cache_import_lock` (it then proves that no import is running).
    Only folders with the names an import gives them are touched, never through a symbolic link;
    an ``<id>`` folder may itself link to another disk.

    Returns:
        The debris folders dealt with (removed, or renamed back to ``<id>/<version>``).
    """
    from .model_folder import verify_model_folder

    handled: List[Path] = []
    for entry in _children(home):
        if _STAGING_RE.match(entry.name) and _is_real_folder(entry):
            shutil.rmtree(entry, ignore_errors=True)
            handled.append(entry)
        elif is_folder_safe_id(entry.name) and entry.is_dir():
            for inner in _children(entry):
                aside = _ASIDE_RE.match(inner.name)
                if _STAGING_RE.match(inner.name) and _is_real_folder(inner):
                    shutil.rmtree(inner, ignore_errors=True)
                elif aside and is_folder_safe_version(aside["version"]) and _is_real_folder(inner):
                    target = entry / aside["version"]
                    if not os.path.lexists(target) and verify_model_folder(inner) == []:
                        os.replace(inner, target)
                    else:
                        shutil.rmtree(inner, ignore_errors=True)
                else:
                    continue
                handled.append(inner)
    return handled
