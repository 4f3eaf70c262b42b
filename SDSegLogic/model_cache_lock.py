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
the holder writes its process id, zip and start time into the model's lock file. The wait has
no time limit (Ctrl-C stops it in a terminal); given ``cancelled`` (``import_zip`` passes its own on)
the wait polls its own non-blocking lock calls every :data:`POLL_S` seconds instead of blocking, and ends with
:class:`~SDSegLogic.errors.CancelledError` once ``cancelled()`` is true, up to the moment this
import holds both locks, however often the locks change hands meanwhile.

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
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional

from .errors import CancelledError
from .registry import is_folder_safe_id, is_folder_safe_version
from .staging_names import remove_staging

__all__ = ["NO_LOCKING", "POLL_S", "STAGING_PREFIX", "WaitSentence", "cache_import_lock", "lock_model_file",
           "model_lock_file", "remove_import_debris", "remove_model_debris", "wait_text"]

POLL_S = 0.1
"""Seconds between two tries of a lock while a cancellable import waits for another import."""

#: Name prefix of the staging folders an import unpacks into (``tempfile.mkdtemp`` adds 8 characters).
STAGING_PREFIX = ".import-"
_STAGING_RANDOM = r"[A-Za-z0-9_]{1,32}"  # tempfile's 8 characters; older SDSeg versions' names too
_ASIDE_RE = re.compile(r"^\.(?P<version>.+)\.old$")
_LOCK_FILE_RE = re.compile(r"^\.(?P<id>.+)\.import-lock$")
_NOTE_BYTES = 4096
# flock on a file system that cannot lock (some network shares): the import runs unlocked
NO_LOCKING = {errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


def _cancel_if_asked(cancelled: Optional[Callable[[], bool]], model_id: str, home: Path, waiting: bool = True) -> None:
    """Raise CancelledError when ``cancelled()`` is true (the import has not got its locks yet).

    ``waiting``: the import waits for another one (else it has not reached the locks: reading the zip).
    """
    if cancelled is None or not cancelled():
        return
    if not waiting:
        raise CancelledError(f"the import of model {model_id} was cancelled before it began installing; nothing was "
                             f"installed in {home}. Import the zip again to install it.")
    raise CancelledError(f"the import of model {model_id} was cancelled while it waited for another import of the "
                         f"same model; nothing was installed in {home}. Import the zip again when the other import "
                         "has finished.")


def _wait_flock(fd: int, flags: int, cancelled: Optional[Callable[[], bool]], model_id: str, home: Path) -> None:
    """Take a lock another holder has: blocking, or with ``cancelled`` polled between non-blocking tries."""
    import fcntl

    if cancelled is None:
        fcntl.flock(fd, flags)
        return
    while True:
        _cancel_if_asked(cancelled, model_id, home)
        got = _try_flock(fd, flags)
        if got is None:  # the file system stopped locking: the blocking call reports it
            fcntl.flock(fd, flags)
        if got is not False:
            return
        time.sleep(POLL_S)


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
        if exc.errno not in NO_LOCKING:
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
                      note: str = "", cancelled: Optional[Callable[[], bool]] = None) -> Iterator[bool]:
    """Hold the import lock of model ``model_id`` in the cache folder ``home`` (an existing folder).

    Args:
        home: the cache root, ``<SDSEG_HOME>/models``.
        model_id: the folder-safe id of the model being imported.
        on_wait: called once with a sentence for the user when another import holds the lock and
            this one waits for it (there is no time limit: Ctrl-C stops the wait); a :class:`WaitSentence`,
            which a GUI shows without its Ctrl-C hint with :func:`wait_text`.
        note: what this import is (e.g. the zip), shown to an import that waits for this one.
        cancelled: asked first (a cancel that came while the caller read the zip), then every
            :data:`POLL_S` seconds while this import waits (e.g. the ``is_set`` of a GUI's Cancel
            event); None: the wait blocks.

    Yields:
        True while the lock is held (this model's debris was cleared); False when the file system
        cannot lock at all (some network shares): the import then runs unlocked and must not
        remove debris.

    Raises:
        CancelledError: ``cancelled()`` was true before this import held its locks (the body did
            not run: nothing was installed).
    """
    lock_path = model_lock_file(home, model_id)
    _cancel_if_asked(cancelled, model_id, home, waiting=False)  # e.g. pressed while the zip was being read
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        with _windows_lock(home, lock_path, model_id, on_wait, cancelled) as held:
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
            _wait_flock(home_fd, fcntl.LOCK_SH, cancelled, model_id, home)
        model_fd = lock_model_file(lock_path, model_id, home, on_wait, cancelled)
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


def lock_model_file(path: Path, model_id: str, home: Path, on_wait: Optional[Callable[[str], None]],
                     cancelled: Optional[Callable[[], bool]] = None) -> int:
    """Open and exclusively lock the model's lock file; returns its descriptor.

    The holder removes the file before it lets go, so a lock got on a file that is no longer at
    ``path`` is dropped and taken again on the file there now (still waiting: ``cancelled`` is
    asked again first, since a third import may hold the new file).
    """
    import fcntl

    waited = False  # on_wait is called once, the first time the lock is held by another import
    while True:
        if waited:
            _cancel_if_asked(cancelled, model_id, home)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if not _try_flock(fd, fcntl.LOCK_EX):
                if on_wait is not None and not waited:
                    on_wait(WaitSentence(f"model {model_id} is being imported into {home} by another import{_holder(fd)}; "
                                         "waiting for it to finish"))
                waited = True
                _wait_flock(fd, fcntl.LOCK_EX, cancelled, model_id, home)
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
def _windows_lock(home: Path, path: Path, model_id: str, on_wait: Optional[Callable[[str], None]],
                  cancelled: Optional[Callable[[], bool]]) -> Iterator[bool]:  # pragma: no cover
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
                _cancel_if_asked(cancelled, model_id, home)
                time.sleep(POLL_S)
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

    handled: List[Path] = remove_staging(folder, (STAGING_PREFIX,), _STAGING_RANDOM)
    for inner in _children(folder):
        aside = _ASIDE_RE.match(inner.name)
        if aside and is_folder_safe_version(aside["version"]) and (_is_real_folder(inner) or inner.is_symlink()):
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
    handled: List[Path] = remove_staging(home, (STAGING_PREFIX,), _STAGING_RANDOM)
    for entry in _children(home):
        if _LOCK_FILE_RE.match(entry.name) and entry.is_file() and not entry.is_symlink():
            with contextlib.suppress(OSError):
                entry.unlink()
                handled.append(entry)
        elif is_folder_safe_id(entry.name) and entry.is_dir():
            handled += remove_model_debris(entry)
    return handled
