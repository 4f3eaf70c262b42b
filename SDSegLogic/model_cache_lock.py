"""One import per model at a time into the model cache, and what a killed import left behind removed.

:func:`SDSegLogic.model_zip.import_zip` (``sdseg models import``, the Slicer module's import
button) holds two locks from before it unpacks the zip until the model is in place:

* a shared lock on the cache folder ``<home>`` (``$SDSEG_HOME/models``);
* an exclusive lock on ``<home>/.<id>.import-lock``, the lock of the model it installs (the file
  exists only while an import of that model runs).

Two imports of one model (any versions), in two processes or two threads, therefore run one
after the other and each installs a whole model; with ``--force`` the last one wins. Imports of
different models run at the same time: an import writes only inside its model's folder
``<home>/<id>`` (its staging folder ``<home>/<id>/.import-*``, then ``<home>/<id>/<version>``)
and there is no index of installed models to keep consistent (the folders are the cache). An
import that has to wait calls ``on_wait`` once with a sentence naming the import it waits for:
the holder writes its process id, zip and start time into the model's lock file.

The locks are ``flock`` locks (POSIX), which the system drops when the process ends, so a
killed import never leaves a model locked. On Windows each model's lock file gets a ``msvcrt``
byte lock instead (no shared lock on the cache, no note of the holder).

Removing debris relies on the locks: what an import leaves only while it runs is debris of a
killed one once no import of that model runs (:func:`remove_import_debris`):

* staging folders ``<home>/<id>/.import-*`` are removed;
* ``<home>/<id>/.<version>.old``, the installed copy a ``--force`` import renames aside just
  before it moves the new copy in, is put back when ``<version>`` is missing and still verifies
  (the import was killed between the two renames), and removed otherwise.

An import clears its own model's debris under the model's lock. An import that gets the cache's
lock exclusively, without waiting (no other import runs), first clears every model's debris and
the staging folders ``<home>/.import-*`` that SDSeg versions with one lock for the whole cache
unpacked into (those versions hold that lock exclusively for a whole import, so they and this
version never import at the same time).

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

__all__ = ["STAGING_PREFIX", "WaitSentence", "cache_import_lock", "model_lock_file", "remove_import_debris", "remove_model_debris",
           "wait_text"]

#: Name prefix of the staging folders an import unpacks into (``tempfile.mkdtemp`` adds 8 characters).
STAGING_PREFIX = ".import-"
_STAGING_RE = re.compile(r"^\.import-[A-Za-z0-9_]{1,32}$")
_ASIDE_RE = re.compile(r"^\.(?P<version>.+)\.old$")
_LOCK_FILE_RE = re.compile(r"^\.(?P<id>.+)\.import-lock$")
_NOTE_BYTES = 4096
# flock on a file system that cannot lock (some network shares): the import runs unlocked
_NO_LOCKING = {errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


def model_lock_file(home: Path, model_id: str) -> Path:
    """``<home>/.<id>.import-lock``: the lock file of one model's imports (removed by the import holding it)."""
    if not is_folder_safe_id(model_id):
        raise ValueError(f"model id {model_id!r} is not folder-safe; check it with is_folder_safe_id first.")
    return Path(home) / f".{model_id}.import-lock"


def _try_flock(fd: int, flags: int) -> Optional[bool]:
    """True when locked, False when another holder blocks it, None when the file system cannot lock."""
    import fcntl

    try:
        fcntl.flock(fd, flags | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_LOCKING:
            raise
        return None


def _holder(fd: int) -> str:
    try:
        note = os.pread(fd, _NOTE_BYTES, 0).decode("utf-8", "replace").strip()
    except OSError:
        note = ""
    return f" ({note})" if note else ""


class WaitSentence(str):
    """The sentence ``on_wait`` gets: as a terminal shows it, ending "(Ctrl-C to stop waiting)."; see :func:`wait_text`."""

    def __new__(cls, sentence: str) -> "WaitSentence":
        made = super().__new__(cls, f"{sentence} (Ctrl-C to stop waiting).")
        made.without_hint = f"{sentence}."
        return made


def wait_text(sentence: str, ctrl_c_hint: bool = True) -> str:
    """The ``on_wait`` sentence as plain text, with its Ctrl-C hint or (``ctrl_c_hint=False``, for a GUI,
    where Ctrl-C stops nothing) without it; any other text is returned as it is."""
    if ctrl_c_hint or not isinstance(sentence, WaitSentence):
        return str(sentence)
    return sentence.without_hint


@contextlib.contextmanager
def cache_import_lock(home: Path, model_id: str, on_wait: Optional[Callable[[str], None]] = None,
                      note: str = "") -> Iterator[bool]:
    """Hold the import lock of model ``model_id`` in the cache folder ``home`` (an existing folder).

    Args:
        home: the cache root, ``<SDSEG_HOME>/models``.
        model_id: the folder-safe id of the model being imported.
        on_wait: called once with a sentence for the user when another import holds the lock and
            this one waits for it (there is no time limit: Ctrl-C stops the wait); a :class:`WaitSentence`,
            which a GUI shows without its Ctrl-C hint with :func:`wait_text`.
        note: what this import is (e.g. the zip), shown to an import that waits for this one.

    Yields:
        True while the lock is held (this model's debris was cleared); False when the file system
        cannot lock at all (some network shares): the import then runs unlocked and must not
        remove debris.
    """
    lock_path = model_lock_file(home, model_id)
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        with _windows_lock(home, lock_path, model_id, on_wait) as held:
            yield held
        return
    import fcntl

    home_fd = os.open(home, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        alone = _try_flock(home_fd, fcntl.LOCK_EX)
        if alone is None:
            yield False
            return
        if alone:  # no other import runs: every model's debris is debris
            remove_import_debris(home)
            fcntl.flock(home_fd, fcntl.LOCK_SH)
        elif not _try_flock(home_fd, fcntl.LOCK_SH):  # an older SDSeg holds the whole cache, or a cleanup runs
            if on_wait is not None:
                on_wait(WaitSentence(f"another model import into {home} is running; waiting for it to finish"))
            fcntl.flock(home_fd, fcntl.LOCK_SH)
        model_fd = _lock_model_file(lock_path, model_id, home, on_wait)
        try:
            os.ftruncate(model_fd, 0)  # the note of a killed holder
            os.pwrite(model_fd, note.encode("utf-8", "replace")[:_NOTE_BYTES], 0)
            remove_model_debris(home / model_id)
            yield True
        finally:
            with contextlib.suppress(OSError):
                os.unlink(lock_path)  # while still held: a waiter that then gets this file's lock retries
            os.close(model_fd)  # closing the only descriptor of this open file releases the lock
    finally:
        os.close(home_fd)


def _lock_model_file(path: Path, model_id: str, home: Path, on_wait: Optional[Callable[[str], None]]) -> int:
    """Open and exclusively lock the model's lock file; returns its descriptor.

    The holder removes the file before it lets go, so a lock got on a file that is no longer at
    ``path`` is dropped and taken again on the file there now.
    """
    import fcntl

    told = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if not _try_flock(fd, fcntl.LOCK_EX):
                if on_wait is not None and not told:
                    on_wait(WaitSentence(f"model {model_id} is being imported into {home} by another import{_holder(fd)}; "
                                         "waiting for it to finish"))
                    told = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            here = os.stat(path)
        except FileNotFoundError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        mine = os.fstat(fd)
        if (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino):
            return fd
        os.close(fd)


@contextlib.contextmanager
def _windows_lock(home: Path, path: Path, model_id: str,
                  on_wait: Optional[Callable[[str], None]]) -> Iterator[bool]:  # pragma: no cover
    """``msvcrt`` byte lock on the model's lock file, polled."""
    import msvcrt

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        told = False
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                break
            except OSError:
                if not told and on_wait is not None:
                    on_wait(WaitSentence(f"model {model_id} is being imported into {home} by another import; waiting "
                                         "for it to finish"))
                told = True
                time.sleep(0.2)
        try:
            remove_model_debris(home / model_id)
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


def remove_model_debris(folder: Path) -> List[Path]:
    """Remove or put back what killed imports left in one model's folder ``<home>/<id>``.

    Call only while holding that model's lock (:func:`cache_import_lock`). Only entries with the
    names an import gives them are touched, never through a symbolic link (a version linked to
    another disk that a ``--force`` import renamed aside loses only its link); ``folder`` itself
    may link to another disk.

    Returns:
        The debris folders dealt with (removed, or renamed back to ``<id>/<version>``).
    """
    from .model_folder import remove_tree_or_link, verify_model_folder

    handled: List[Path] = []
    for inner in _children(folder):
        aside = _ASIDE_RE.match(inner.name)
        if _STAGING_RE.match(inner.name) and _is_real_folder(inner):
            shutil.rmtree(inner, ignore_errors=True)
        elif aside and is_folder_safe_version(aside["version"]) and (_is_real_folder(inner) or inner.is_symlink()):
            # a link renamed aside is a model kept on another disk: put the link back, or remove only the link
            target = folder / aside["version"]
            if not os.path.lexists(target) and inner.is_dir() and verify_model_folder(inner) == []:
                os.replace(inner, target)
            else:
                remove_tree_or_link(inner)
        else:
            continue
        handled.append(inner)
    return handled


def remove_import_debris(home: Path) -> List[Path]:
    """Remove or put back what killed imports left anywhere in the cache ``home``.

    Call only while holding the cache's lock exclusively (then no import runs): the staging
    folders ``<home>/.import-*`` of older SDSeg versions, the lock files of killed imports and
    every model's debris (:func:`remove_model_debris`).

    Returns:
        The debris folders dealt with.
    """
    handled: List[Path] = []
    for entry in _children(home):
        if _STAGING_RE.match(entry.name) and _is_real_folder(entry):
            shutil.rmtree(entry, ignore_errors=True)
            handled.append(entry)
        elif _LOCK_FILE_RE.match(entry.name) and entry.is_file() and not entry.is_symlink():
            with contextlib.suppress(OSError):
                entry.unlink()
                handled.append(entry)
        elif is_folder_safe_id(entry.name) and entry.is_dir():
            handled += remove_model_debris(entry)
    return handled
