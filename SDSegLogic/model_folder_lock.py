"""One writer per model folder at a time, and the staging folders of killed writers removed.

:func:`SDSegLogic.model_folder.save_model_folder` (used by the official-checkpoint import, the
training export and the fast-decoder distillation) writes a model into a staging folder
``<parent>/.<name>.staging-<8 characters>`` (``tempfile.mkdtemp``) and renames it to ``<parent>/<name>`` when
complete. A writer that is killed (a signal, the host out of memory, a closed terminal) leaves that
hidden folder, as large as the model, for ever.

The rule is the model cache's (:mod:`SDSegLogic.model_cache_lock`): while it writes, a writer holds
an exclusive ``flock`` on ``<parent>/.<name>.write-lock`` (the system drops it when the process
dies; the holder removes the file before it lets go), so once a writer holds it no other writer
of that folder is writing, and the staging folders of that folder are debris: they are removed.
The training export (``sdseg_training.export``) stages in ``<parent>/.<name>.export-<8 characters>``
under the same lock, so a killed export's staging is removed as well. Only real folders with
exactly a staging name of this folder are touched (never a link, never another folder's; see
:mod:`SDSegLogic.staging_names`). A writer killed between the two renames of
:func:`~SDSegLogic.model_folder.move_folder_into_place` leaves the old model at ``.<name>.old`` and none
at ``<name>``: it is put back, as the model cache does. Where files cannot be locked (some network shares, Windows) nothing is removed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, List

from .staging_names import EXPORT, STAGING, remove_staging, sibling_prefix

__all__ = ["folder_write_lock", "remove_stale_staging", "restore_aside", "staging_prefix"]


def staging_prefix(folder: Path) -> str:
    """The name prefix of ``folder``'s staging folders: ``.<name>.staging-`` (``tempfile.mkdtemp`` adds 8 characters).

    The word ``staging`` keeps other hidden siblings (a user's ``.<name>.settings``) out of what is removed.
    """
    return sibling_prefix(folder, STAGING)


def remove_stale_staging(folder: Path) -> List[Path]:
    """Remove the staging folders of ``folder`` (call only while holding :func:`folder_write_lock`).

    Both the writer's ``.<name>.staging-<8>`` and the training export's ``.<name>.export-<8>`` (the export
    holds this lock while it writes), as :mod:`SDSegLogic.staging_names` names them.

    Args:
        folder: the model folder ``<parent>/<name>``.

    Returns:
        The staging folders removed.
    """
    folder = Path(folder)
    return remove_staging(folder.parent, (sibling_prefix(folder, STAGING), sibling_prefix(folder, EXPORT)))


def restore_aside(folder: Path) -> bool:
    """Put back ``<parent>/.<name>.old`` when ``folder`` is missing (call only while holding :func:`folder_write_lock`).

    :func:`SDSegLogic.model_folder.move_folder_into_place` renames the old folder aside to ``.<name>.old``
    just before it moves the new one in; a writer killed between the two renames leaves the old model
    there and none at ``folder``. It is put back when it still verifies; anything else is left as it is
    (the next replacement of ``folder`` removes it, as it always did).

    Returns:
        True when the old folder was put back.
    """
    from .model_folder import verify_model_folder

    folder = Path(folder)
    aside = folder.with_name(f".{folder.name}.old")
    if os.path.lexists(folder) or not aside.is_dir() or verify_model_folder(aside):
        return False
    os.replace(aside, folder)  # a link renamed aside goes back as the link
    return True


@contextlib.contextmanager
def folder_write_lock(folder: Path) -> Iterator[bool]:
    """Hold the write lock of the model ``folder``; what killed writers left is dealt with first.

    Their staging folders are removed (:func:`remove_stale_staging`) and an old folder renamed aside is
    put back where ``folder`` is missing (:func:`restore_aside`).

    Another writer of the same folder waits (no time limit) until this one is done.

    Args:
        folder: the model folder ``<parent>/<name>`` (``<parent>`` is created).

    Yields:
        True while the lock is held; False where files cannot be locked (nothing was removed).
    """
    from .model_cache_lock import NO_LOCKING, lock_model_file

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    if os.name == "nt":  # pragma: no cover - no flock: a live writer's staging cannot be told from a dead one's
        yield False
        return
    lock_path = folder.parent / f".{folder.name}.write-lock"
    try:
        fd = lock_model_file(lock_path, folder.name, folder.parent, on_wait=None)
    except OSError as exc:
        if exc.errno not in NO_LOCKING:
            raise
        with contextlib.suppress(OSError):
            os.unlink(lock_path)  # nobody can hold a lock here
        yield False
        return
    try:
        remove_stale_staging(folder)
        restore_aside(folder)
        yield True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)  # while still held: a waiter that then gets this file's lock retries on a new file
        os.close(fd)
