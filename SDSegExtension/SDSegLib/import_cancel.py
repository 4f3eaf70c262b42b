"""A model zip import's wait for another import of the same model, made cancellable (no Qt, no Slicer).

:func:`SDSegLogic.model_cache_lock.cache_import_lock` waits for the other import with a blocking
lock call and no time limit (Ctrl-C stops it in a terminal; nothing stops it in Slicer). Just
before it blocks it calls ``on_wait``, and an exception raised there ends the import with nothing
installed. :func:`cancellable_on_wait` uses that: its ``on_wait`` tells the user, then polls the
locks (without holding them) until they look free, and raises :class:`~SDSegLogic.errors.CancelledError`
when ``cancelled()`` turns true first. The lock call then only takes a free lock.

A third import may take the lock between the look and the lock call; this import then waits for
that one without being cancellable (a cancel hook in ``cache_import_lock`` that polls its own
non-blocking lock would close that gap).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Optional

from SDSegLogic.errors import CancelledError

__all__ = ["POLL_S", "cancellable_on_wait", "lock_looks_free", "wait_until_free"]

POLL_S = 0.1
"""Seconds between two looks at the locks while an import waits."""


def lock_looks_free(home: Path, model_id: str) -> bool:
    """Whether neither the cache ``home`` nor model ``model_id`` is locked by another import now.

    Looks with a shared, non-blocking lock released at once (see :mod:`SDSegLogic.model_cache_lock`:
    imports hold the cache shared and their model's lock file exclusively). A lock file that is
    gone was removed by its holder when it finished; a file system that cannot lock counts as free.
    """
    from SDSegLogic.model_cache_lock import model_lock_file

    paths = (Path(home), model_lock_file(Path(home), model_id))
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        return _windows_free(paths[1])
    import fcntl

    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        except OSError:
            return True  # cannot look: the lock call itself decides
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:
            pass  # a file system that cannot lock: the import runs unlocked
        finally:
            os.close(fd)  # our only descriptor of this open file: its shared lock goes with it
    return True


def _windows_free(path: Path) -> bool:  # pragma: no cover - exercised on Windows only
    """The model's ``msvcrt`` byte lock is free (taken and given back at once)."""
    import msvcrt

    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return True
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return True
    finally:
        os.close(fd)


def wait_until_free(home: Path, model_id: str, cancelled: Callable[[], bool], poll_s: float = POLL_S) -> None:
    """Return once :func:`lock_looks_free`; raise when ``cancelled()`` is true first.

    Args:
        home: the cache root, ``<SDSEG_HOME>/models``.
        model_id: the folder-safe id of the model being imported.
        cancelled: polled every ``poll_s`` seconds (e.g. ``threading.Event.is_set`` of the panel's Cancel).
        poll_s: seconds between two looks.

    Raises:
        CancelledError: cancelled while another import held the lock; nothing was installed.
    """
    while True:
        if cancelled():
            raise CancelledError(f"the import of model {model_id} was cancelled while it waited for another import of "
                                 f"the same model; nothing was installed in {home}. Import the zip again when the other "
                                 "import has finished.")
        if lock_looks_free(home, model_id):
            return
        time.sleep(poll_s)


def cancellable_on_wait(on_wait: Optional[Callable[[str], None]], home: Path, model_id: str,
                        cancelled: Callable[[], bool], poll_s: float = POLL_S) -> Callable[[str], None]:
    """An ``on_wait`` for :func:`~SDSegLogic.model_cache_lock.cache_import_lock` that ends the wait on ``cancelled()``.

    It passes the wait sentence to ``on_wait`` (when given), then :func:`wait_until_free`.
    """
    def waiting(sentence: str) -> None:
        if on_wait is not None:
            on_wait(sentence)
        wait_until_free(home, model_id, cancelled, poll_s)
    return waiting
