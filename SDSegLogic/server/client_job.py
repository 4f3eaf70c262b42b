"""A client's ``segment`` job before the engine runs it: the checks before its volume is sent, and an early cancel.

:func:`require_options` and :func:`volume_to_send` refuse, before a byte of the volume goes out,
what the engine's ``welcome`` says it would refuse (an option it does not know, a volume over its
request limit). :class:`ClientJob` is the job as :meth:`EngineClient.cancel` sees it from another
thread: a ``segment`` call connects, checks its options and uploads the volume before the engine knows the
job. A cancel in that time used to be lost (no job id was known yet, so nothing was sent, and the
job then ran to its end) or waited for the whole upload to finish (the cancel frame queued behind
the volume on the send lock). :class:`ClientJob` remembers such a cancel instead: ``segment`` sends
nothing when it came before the upload, and sends the ``cancel`` itself right after the upload when
it came during it. Used by :mod:`SDSegLogic.server.client`.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..errors import InputError, SDSegError
from ..segment_options import whole_number
from .client_types import EngineError
from .engine_options import MAX_SOCKET_TIMEOUT_S
from .option_rule import option_number
from .wire_values import short_repr

__all__ = ["ClientJob", "check_timeout", "engine_too_old", "require_options", "segment_options", "volume_to_send"]


def check_timeout(timeout: float) -> None:
    """Refuse a client ``timeout`` (seconds) that no socket takes: inf or 1e10 failed at connect() with a bare OverflowError.

    Raises:
        SDSegError: ``timeout`` is not > 0 and <= ``MAX_SOCKET_TIMEOUT_S``, naming the value and the remedy.
    """
    if not 0 < timeout <= MAX_SOCKET_TIMEOUT_S:
        raise SDSegError(f"engine client timeout={timeout!r} must be a number of seconds > 0 and at most "
                         f"{MAX_SOCKET_TIMEOUT_S:.0f} (what a socket timeout takes; a year is 31536000).")


def engine_too_old(welcome: Dict[str, Any]) -> str:
    """The remedy sentence for an engine (described by its ``welcome``) older than this client."""
    from .. import __version__

    return (f"The engine (SDSeg {welcome.get('engine_version', '?')}) is older than this client (SDSeg "
            f"{__version__}); update SDSeg where the engine runs, or leave the newer options at their defaults.")


def require_options(welcome: Dict[str, Any], options: Dict[str, Any]) -> None:
    """Refuse, before sending the volume, options that the engine's ``welcome`` says it does not know.

    Engines that predate the ``segment_options`` list are not checked here; their ``unknown
    segment options`` error is turned into ``engine_too_old`` when it comes back.

    Raises:
        EngineError: ``engine_too_old``, naming the options and the remedy.
    """
    known = welcome.get("segment_options")
    missing = sorted(set(options) - set(known)) if isinstance(known, list) else []
    if missing:
        raise EngineError("engine_too_old", f"this engine does not know the segment options {missing}. {engine_too_old(welcome)}")


def segment_options(*, num_inference_steps: int, num_samples: int, seed: int, slices: Optional[Sequence[int]], batch_size: int,
                    want_probabilities: bool, want_variance: bool, modality: str, strict: bool, nan_policy: str) -> Dict[str, Any]:
    """The ``options`` of a ``segment`` request (see :meth:`EngineClient.segment <SDSegLogic.server.client.EngineClient.segment>`).

    ``modality``, ``strict`` and ``nan_policy`` are sent only when not at their defaults, so an
    engine that predates them still accepts a default job. The counts, the seed and the slice bounds
    are sent as ints when they are whole numbers (``2.0`` as ``2``), by the engine's rule
    (:mod:`~SDSegLogic.server.option_rule`); ``int()`` truncated ``num_samples=2.5`` to 2 samples.

    Raises:
        InputError: a count, the seed or a slice bound that is not a whole number (``2.5``, ``True``,
            ``"2"``), naming it; the engine judges the ranges.
    """
    counts = {key: option_number(key, value, check_range=False, where="segment()") for key, value in
              (("num_inference_steps", num_inference_steps), ("num_samples", num_samples), ("seed", seed), ("batch_size", batch_size))}
    options: Dict[str, Any] = {**counts, "slices": None if slices is None else _slice_bounds(slices),
                               "want_probabilities": bool(want_probabilities), "want_variance": bool(want_variance)}
    if modality:
        options["modality"] = str(modality)
    if strict:
        options["strict"] = True
    if nan_policy != "reject":
        options["nan_policy"] = str(nan_policy)
    return options


def _slice_bounds(slices: Any) -> list:
    """``[start, stop]`` of a ``slices`` argument of two whole numbers, else InputError naming it."""
    bounds = [whole_number(v) for v in slices] if isinstance(slices, (list, tuple)) and len(slices) == 2 else [None]
    if None in bounds:
        raise InputError(f"segment() slices={short_repr(slices, 80)} must be (start, stop), two whole numbers of slices "
                         "along the model's slicing axis, or None for all of them; e.g. slices=(0, 10).")
    return bounds


def volume_to_send(image: Any, welcome: Dict[str, Any]) -> np.ndarray:
    """The array a ``segment`` request carries for ``image`` (a bool mask as uint8).

    Raises:
        EngineError: ``request_too_large`` when it exceeds the ``max_request_bytes`` of the engine's ``welcome``;
            ``protocol_error`` when that limit is not a whole number >= 0.
    """
    array = np.asarray(image)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    limits = welcome.get("limits") or {}
    limit = limits.get("max_request_bytes") if isinstance(limits, dict) else limits  # a number or a list: refused below
    if isinstance(limit, float) and math.isfinite(limit) and limit.is_integer():  # 1000000.0: whole all the same
        limit = int(limit)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        # 1e400 arrives as inf (int() raised OverflowError), a string raised ValueError: neither is an EngineError
        raise EngineError("protocol_error", f"the engine's welcome gives limits.max_request_bytes={str(limit)[:40]!r}, not a "
                          "whole number of bytes; update the engine and this client to the same SDSeg version.")
    if limit is not None and array.nbytes > limit:
        raise EngineError("request_too_large", f"the volume takes {array.nbytes} bytes but this engine accepts at most {limit} "
                          "bytes per request; segment a slice range or restart the engine with a larger --max-request-bytes.")
    return array


class ClientJob:
    """The job id of the client's running ``segment`` call, whether it was sent, and a cancel that waits for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job_id: Optional[str] = None
        self._sent = False
        self._cancel_wanted = False

    @property
    def job_id(self) -> Optional[str]:
        """The id of the running ``segment`` call's job; None when no call runs."""
        return self._job_id

    def begin(self, job_id: str) -> None:
        """A ``segment`` call starts (before it connects): from now on a cancel is for ``job_id``."""
        with self._lock:
            self._job_id, self._sent, self._cancel_wanted = job_id, False, False

    def end(self) -> None:
        """The ``segment`` call returns or raises: a later cancel without a job id does nothing."""
        with self._lock:
            self._job_id, self._sent, self._cancel_wanted = None, False, False

    def cancel_target(self, job_id: Optional[str] = None) -> Optional[str]:
        """The job id a ``cancel`` frame must be sent for now, or None.

        Args:
            job_id: the job to cancel; None: the running ``segment`` call's job.

        Returns:
            the running job's id once its request was sent; None when no call runs, when ``job_id``
            names another job (the engine matches ids only against the job of this connection,
            PROTOCOL.md "Job ids", so nothing could be stopped), or when the request is not sent yet
            (the cancel is remembered: :meth:`cancel_wanted` and :meth:`mark_sent` report it to the
            ``segment`` call).
        """
        with self._lock:
            if job_id is not None and job_id != self._job_id:
                return None
            if self._job_id is None:
                return None
            if not self._sent:
                self._cancel_wanted = True
                return None
            return self._job_id

    def cancel_wanted(self) -> bool:
        """True when a cancel came for the running call (checked before its request is sent)."""
        with self._lock:
            return self._cancel_wanted

    def mark_sent(self) -> bool:
        """The request went out; returns True when a cancel came meanwhile, so the caller sends it now."""
        with self._lock:
            self._sent = True
            return self._cancel_wanted
