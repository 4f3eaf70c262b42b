"""What ``sdseg`` tells its reader: progress events, summary lines, and a reader that went away.

:class:`Reporter` sends the events of :mod:`SDSegLogic.progress` to stdout as JSON lines
(``--json``) or to a stderr progress bar. When the reader of stdout or stderr goes away (``sdseg
... --json | head -1``: the pipe is closed), a write raises :class:`StreamClosed`, and ``sdseg``
stops quietly with :data:`EXIT_STREAM_CLOSED` as a process ended by SIGPIPE would, keeping the
outputs it finished (:func:`is_closed_pipe`, :func:`discard_closed_streams`). Standard library only.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import sys
import traceback
from typing import Optional, TextIO

from .progress import ProgressEvent, TextProgressBar, printable

__all__ = ["Reporter", "StreamClosed", "EXIT_STREAM_CLOSED", "is_closed_pipe", "discard_closed_streams"]

#: 128 + SIGPIPE (13): the code a shell reports for a process ended by writing into a closed pipe.
EXIT_STREAM_CLOSED = 141


class StreamClosed(BaseException):
    """The reader of stdout or stderr went away (a closed pipe, e.g. ``| head``).

    A ``BaseException``, like ``KeyboardInterrupt``: it ends the run, and the handlers that let
    one failed input not stop the others do not catch it.
    """


def is_closed_pipe(exc: BaseException) -> bool:
    """Whether ``exc`` says that the reader of a stream went away (:class:`StreamClosed`, EPIPE)."""
    return isinstance(exc, (StreamClosed, BrokenPipeError))


def _reader_gone(exc: OSError) -> bool:
    """Whether a failed write to stdout/stderr met a closed pipe (EPIPE; EINVAL on a Windows pipe)."""
    return isinstance(exc, BrokenPipeError) or (os.name == "nt" and exc.errno == errno.EINVAL)


def discard_closed_streams() -> None:
    """Point stdout/stderr whose reader went away at the null device.

    Their buffered text cannot be delivered; without this the interpreter would try again at exit
    and print "Exception ignored ... BrokenPipeError". A stream that still flushes is left alone.
    """
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # no stream at all (started with it closed, ``>&-``): nothing to flush at exit
            continue
        try:
            stream.flush()
        except OSError:
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, stream.fileno())
                os.close(null)
            except (OSError, ValueError):  # no file descriptor (an in-memory stream): nothing to flush at exit
                pass


class Reporter:
    """Sends progress events to stdout as JSON lines (``--json``) or to a stderr progress bar.

    Args:
        json_mode: write events as JSON lines to ``stdout``.
        quiet: no progress bar and no summary lines (errors still go to ``stderr``).

    Every write raises :class:`StreamClosed` when the stream's reader went away. Text for people
    (the bar, notes, error lines, the summary) that cannot be written for another reason (the
    stream was closed when the process started, ``2>&-``; a full disk) is dropped, with all later
    text for that stream, instead of failing the run: the outputs and the exit code still tell.
    So are ``--json``'s events when stdout cannot take them (``>&-``, ``1</dev/null``), with one
    warning on stderr, where error events then go as lines for people.
    """

    def __init__(self, json_mode: bool = False, quiet: bool = False, stdout: Optional[TextIO] = None,
                 stderr: Optional[TextIO] = None) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.bar = None if (json_mode or quiet) else TextProgressBar(self.stderr)

    #: Whether stderr was told that --json's events are lost (once per process: ``sdseg`` has two reporters).
    json_loss_told = False

    def _json_lost(self, why: str) -> None:
        """Tell stderr, once, that ``--json``'s events are lost; the run goes on, its errors as lines on stderr."""
        if not Reporter.json_loss_told:
            Reporter.json_loss_told = True
            self._for_people("stderr", f"sdseg: warning: {why}; going on without them: errors are written here, "
                                       "and the outputs and the exit code tell the rest.\n")

    def emit(self, event: ProgressEvent) -> None:
        if self.json_mode and self.stdout is None:  # started without stdout (``--json >&-``), or it failed
            self._json_lost("stdout is closed, so the --json events cannot be written")
        try:
            self._emit(event)
        except OSError as exc:
            if _reader_gone(exc):
                raise StreamClosed(str(exc)) from None
            if self.json_mode and self.stdout is not None:  # --json's own stream: read-only (1</dev/null), disk full
                self._drop("stdout")
                self._json_lost(f"cannot write the --json events to stdout ({exc})")
                self._emit(event)  # an error event still reaches stderr, as a line for people
                return
            self._drop("stderr")  # only the bar and error lines for people were lost

    def _drop(self, name: str) -> None:
        """Stop writing to ``name`` (``"stdout"`` or ``"stderr"``): it cannot be written."""
        setattr(self, name, None)
        if name == "stderr":
            self.bar = None

    def _for_people(self, name: str, text: str) -> None:
        """Write ``text`` to stream ``name``, dropping it (and later text there) if the stream cannot take it."""
        try:  # control characters of a file name (ESC, CR) would recolour or overwrite a terminal or a log
            self.write(getattr(self, name), printable(text, lines=True))
        except OSError:  # not a closed pipe (write raised StreamClosed for that): closed at start, disk full
            self._drop(name)

    def _emit(self, event: ProgressEvent) -> None:
        if self.json_mode and self.stdout is not None:
            self.write(self.stdout, event.to_json() + "\n")
        elif event.event == "error":
            if self.bar is not None:
                self.bar.end_line()
            prefix, frame = "", event.extra.get("frame")
            if event.volume is not None:
                prefix = f"[{event.volume}/{event.volumes}" + (f", frame {frame}] " if frame is not None else "] ")
                if not (event.message or "").startswith(str(event.input)):
                    prefix += f"{event.input}: "
            self.write(self.stderr, printable(f"sdseg: error: {prefix}{event.message}", lines=True) + "\n")
            return
        if self.bar is not None:
            if event.extra.get("frame") is not None and event.input is not None:  # the bar names the frame too
                event = dataclasses.replace(event, input=f"{event.input} (frame {event.extra['frame']})")
            self.bar(event)

    def say(self, text: str) -> None:
        """A summary line for people (stdout); silent with ``--quiet`` or ``--json``."""
        if not (self.quiet or self.json_mode):
            self._for_people("stdout", text + "\n")

    def note(self, text: str) -> None:
        """A line for people on stderr (a warning, a tip); silent with ``--quiet`` or ``--json``."""
        if not (self.quiet or self.json_mode):
            self._for_people("stderr", text + "\n")

    def print_traceback(self, exc: BaseException, heading: str) -> None:
        """``--debug``: ``heading`` and the traceback of ``exc`` on stderr (dropped if it cannot be written)."""
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        self._for_people("stderr", heading + "".join(lines))

    @staticmethod
    def write(stream: Optional[TextIO], text: str) -> None:
        """Write and flush ``text``; raises :class:`StreamClosed` when the reader went away.

        Characters the stream's encoding lacks (a file name in a Windows code page) are written as
        ``\\x``/``\\u`` escapes, as Python does on stderr, instead of failing the run. A process
        started without the stream (``sdseg ... >&-``: ``sys.stdout`` is ``None``) writes nothing,
        as :func:`print` does.
        """
        if stream is None:
            return
        try:
            try:
                stream.write(text)
            except UnicodeEncodeError:
                encoding = getattr(stream, "encoding", None) or "ascii"
                stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
            stream.flush()
        except OSError as exc:
            if _reader_gone(exc):
                raise StreamClosed(str(exc)) from None
            raise
