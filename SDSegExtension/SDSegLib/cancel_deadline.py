"""A deadline for a cancel that the engine does not confirm (no Qt, no MRML, no Slicer).

After Cancel the engine stops between slice batches and answers ``cancelled``, which ends the job.
An engine that hangs meanwhile (a stuck driver call, a stopped process, a remote host or network
gone) answers nothing, and the client would give up only when its heartbeat does
(``EngineClient.heartbeat_s``, 30 s, then a ping's ``timeout``, 10 s): the panel's run controls would
stay locked that long. So :meth:`SegmentationJob.cancel <SDSegLib.engine_runner.SegmentationJob.cancel>`
starts a timer (:func:`start_deadline`); a job that has not ended :data:`CANCEL_DEADLINE_S` seconds
after the cancel

* ends as cancelled (nothing is written) with :data:`UNCONFIRMED_NOTE` in the event's text;
* has its connection shut down (:func:`abort_connection`): the engine cancels the job of a closed
  connection by itself as soon as it runs again, and the worker thread's blocked read returns;
* on a local engine, ``EngineManager.discard_unanswering(probe_s=ENGINE_PROBE_S)`` stops the engine
  when it does not answer a ping within :data:`ENGINE_PROBE_S` (:func:`engine_answers`), so that the
  next Segment starts a new one; an engine that answers (only busy with a long batch) stays warm.

:func:`abort_connection` uses ``EngineClient.abort()``, which shuts the socket down without
taking it from the reading thread (``close()`` from another thread would not wake a read blocked
inside a frame).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from SDSegLogic.errors import SDSegError

__all__ = ["CANCEL_DEADLINE_S", "ENGINE_PROBE_S", "UNCONFIRMED_NOTE", "STARTING_NOTE", "start_deadline", "abort_connection",
           "engine_answers", "unconfirmed_text"]

CANCEL_DEADLINE_S = 5.0
"""Seconds after Cancel within which the engine must confirm; after them the job ends as cancelled anyway."""

ENGINE_PROBE_S = 2.0
"""Seconds a local engine that did not confirm a cancel has to answer a ping on a new connection before it is stopped."""

UNCONFIRMED_NOTE = ("The engine did not confirm the cancel within {seconds:g} s; the connection to it was closed "
                    "(an engine that is only busy stops the job by itself).")
"""Added to the ``cancelled`` event of a job ended by the deadline."""

_SILENT_CODES = ("timeout", "engine_died", "not_connected")
"""Client error codes that mean the engine answered nothing (any other error is an answer)."""


STARTING_NOTE = "The engine did not stop within {seconds:g} s of the cancel while it was starting; SDSeg stopped waiting for it."
"""The note instead of :data:`UNCONFIRMED_NOTE` when the job had no connection yet (a local engine still starting)."""


def unconfirmed_text(seconds: float, connected: bool = True) -> str:
    """The text of the ``cancelled`` event of a job that the deadline ended.

    Args:
        seconds: the deadline.
        connected: the job was connected to its engine (else the engine was still starting).
    """
    return "Cancelled; nothing was written. " + (UNCONFIRMED_NOTE if connected else STARTING_NOTE).format(seconds=seconds)


def start_deadline(seconds: float, on_expiry: Callable[[], None]) -> threading.Timer:
    """Call ``on_expiry()`` in a daemon thread after ``seconds`` (it must check whether the job already ended)."""
    timer = threading.Timer(max(0.0, float(seconds)), on_expiry)
    timer.name, timer.daemon = "sdseg-cancel-deadline", True
    timer.start()
    return timer


def abort_connection(client: Optional[Any]) -> None:
    """Shut the client's connection down from another thread; a read or write blocked on it returns at once.

    The socket object itself is left to the thread that uses it (its ``close()`` after the error),
    so its file descriptor cannot be reused under a blocked call.
    """
    if client is not None:
        client.abort()


def engine_answers(process: Any, timeout: float = ENGINE_PROBE_S) -> bool:
    """Whether a local engine process answers a ``ping`` on a new connection within ``timeout`` seconds.

    Any reply counts, an error such as ``busy`` included; no reply (timeout, refused or broken
    connection) does not.

    Args:
        process: a running :class:`SDSegLogic.server.client.EngineProcess`.
        timeout: seconds for the connection's hello and for the ping's answer.
    """
    client = None
    try:
        client = process.client(timeout=timeout)
        client.ping()
        return True
    except (SDSegError, OSError) as exc:
        return getattr(exc, "code", "engine_died") not in _SILENT_CODES
    finally:
        if client is not None:
            client.close()
