"""A model zip import whose wait for another import of the same model can be cancelled (no Qt, no Slicer).

:func:`SDSegLogic.model_cache_lock.cache_import_lock` waits, with no time limit, for another import
of the same model (another Slicer, ``sdseg models import`` in a terminal); Ctrl-C stops that wait in
a terminal, nothing does in Slicer. Given a cancel hook the lock asks it when the import reaches
the lock (a Cancel pressed while the zip was read), then its own wait loop tries its non-blocking
lock every :data:`~SDSegLogic.model_cache_lock.POLL_S` seconds and raises
:class:`~SDSegLogic.errors.CancelledError` once the hook is true, until this import holds the locks,
also when a third import takes them between two tries. :func:`import_zip_cancellable` gives the
panel's Cancel import (or closing the module) to that loop through ``import_zip``'s ``cancelled``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Union

__all__ = ["import_zip_cancellable"]


def import_zip_cancellable(zip_path: Union[str, Path], cancelled: Optional[Callable[[], bool]], **options: Any) -> Any:
    """:func:`SDSegLogic.model_zip.import_zip` whose wait for another import ends when ``cancelled()`` is true.

    Args:
        zip_path: the model zip.
        cancelled: the cancel hook (e.g. ``threading.Event.is_set`` of the panel's Cancel import),
            asked while the import waits for the model's lock; None waits without one.
        **options: ``import_zip``'s keyword arguments (``registry``, ``home``, ``force``, ``on_wait``).

    Returns:
        The installed model (``import_zip``'s ResolvedModel).

    Raises:
        CancelledError: ``cancelled()`` turned true while the import waited; nothing was installed.
        SDSegError: as ``import_zip``.
    """
    from SDSegLogic.model_zip import import_zip

    return import_zip(zip_path, cancelled=cancelled, **options)
