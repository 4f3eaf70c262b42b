"""The batch loop of :func:`~SDSegLogic.segment.segment_array`: sequential or overlapped.

Both run ``prepare -> predict -> store`` over the same batches with the same calls of the
predictor, ``progress`` and ``should_cancel`` (always from the calling thread), so the result is
bit-identical whichever runs. A cancel request seen by the predictor itself (between its network
calls, see :func:`cancel_keyword`) ends the loop like one seen before a batch, with the same message.
"""

from __future__ import annotations

import inspect
from typing import Callable, Optional

from .errors import CancelledError

__all__ = ["_run_sequential", "_run_overlapped", "cancel_keyword"]


def cancel_keyword(method: Callable, should_cancel: Optional[Callable[[], bool]]) -> dict:
    """``{"should_cancel": should_cancel}`` when ``method`` names that parameter, else ``{}``.

    A predictor that takes it checks the request between its network calls (each sample and DDIM
    step), so a cancel lands within one call; one that does not is only stopped between batches.
    A bare ``**kwargs`` does not count: a wrapper may pass it on to a predictor without the keyword.
    """
    if should_cancel is None:
        return {}
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return {}
    takes = any(p.name == "should_cancel" and p.kind is not inspect.Parameter.VAR_POSITIONAL for p in parameters)
    return {"should_cancel": should_cancel} if takes else {}


def _cancelled(source: str, done: int, total: int) -> CancelledError:
    return CancelledError(f"{source}: cancelled after {done} of {total} slices; nothing was written.")


def _predict(predict, x, first: int, last: int, source: str, done: int, total: int):
    """``predict(x, first, last)``; a cancel inside it (between network calls) is reported with the slice count."""
    try:
        return predict(x, first, last)
    except CancelledError:
        raise _cancelled(source, done, total) from None


def _run_sequential(batches, prepare, predict, sink, progress, should_cancel, source) -> None:
    """prepare -> predict -> store, one batch after the other, all in the calling thread."""
    total, done = batches[-1][1] - batches[0][0], 0
    for first, last in batches:
        if should_cancel is not None and should_cancel():
            raise _cancelled(source, done, total)
        p, v = _predict(predict, prepare(first, last), first, last, source, done, total)
        sink(first, last, p, v)
        done += last - first
        if progress is not None:
            progress(done, total)


def _run_overlapped(batches, prepare, predict, sink, progress, should_cancel, source) -> None:
    """Like :func:`_run_sequential`, with host work overlapped with the predictor.

    While the calling thread runs the predictor on batch i (a CUDA model releases the GIL while
    its kernels run and while it waits for the result), one worker thread prepares batch i + 1
    (channels, intensity mapping, resize to S x S) and another stores batch i - 1 (resize back,
    threshold/argmax, counts). The predictor, ``should_cancel`` and ``progress`` are only ever
    called from the calling thread, with the same arguments as in the sequential loop, and
    ``progress`` counts a batch only once it is stored (so one batch later than there); every
    batch is prepared and stored by the same pure functions into disjoint slabs, so the result is
    bit-identical. At most one batch is prepared ahead and one stored behind, so memory grows by
    two batches. An error in a worker is raised here, in the calling thread, at the latest before
    the function returns.
    """
    from concurrent.futures import ThreadPoolExecutor

    total, done = batches[-1][1] - batches[0][0], 0
    before = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sdseg-prepare")
    after = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sdseg-store")
    storing = 0  # slices of the batch being stored: done (for progress) once its store has finished
    try:
        prepared = before.submit(prepare, *batches[0])
        stored = None
        for index, (first, last) in enumerate(batches):
            if should_cancel is not None and should_cancel():
                raise _cancelled(source, done + storing, total)
            x = prepared.result()
            if index + 1 < len(batches):
                prepared = before.submit(prepare, *batches[index + 1])
            p, v = _predict(predict, x, first, last, source, done + storing, total)
            del x
            if stored is not None:
                stored.result()  # at most one batch waits to be stored; raises a worker's error
                done, storing = _stored(done, storing, total, progress)
            stored = after.submit(sink, first, last, p, v)
            storing = last - first
        stored.result()
        _stored(done, storing, total, progress)
    finally:
        before.shutdown(wait=True, cancel_futures=True)
        after.shutdown(wait=True, cancel_futures=True)


def _stored(done: int, storing: int, total: int, progress) -> tuple:
    """The batch of ``storing`` slices has been stored: report it; returns the new (done, storing)."""
    done += storing
    if progress is not None:
        progress(done, total)
    return done, 0
