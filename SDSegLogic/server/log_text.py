"""Client-supplied text made safe for one engine log line (job ids, names): no forged lines, no terminal escapes.

A ``job_id`` is whatever string the client sent. Logged as given, ``"7\\n2026-01-01 ... sdseg-engine
ERROR ..."`` wrote a second, forged log line, and an ANSI escape (``"\\x1b[2J"``) acted on the terminal
that shows the log. Replies keep the text as given; only log lines use :func:`log_safe`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LOG_TEXT_CHARS", "log_safe"]

LOG_TEXT_CHARS = 200
"""Most characters of a client's text that one log line quotes: a 1 MiB ``job_id`` grew the log by megabytes per job."""


def _escape(char: str) -> str:
    """One non-printable character as a Python-style escape (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return char.encode("unicode_escape").decode("ascii")


def log_safe(value: Any, limit: int = LOG_TEXT_CHARS) -> str:
    """``str(value)`` with every non-printable character escaped (newlines, ``ESC``, ``U+2028``...), at most ``limit`` long.

    Args:
        value: client-supplied text (or anything; ``str`` is applied first).
        limit: most characters kept of the escaped text; a longer one is cut there and ends with
            ``...(N characters)``, N the length of the client's text.

    Returns:
        The same text when it is printable and short (the usual case: ``"job-7"``), else a copy in
        which each non-printable character is written as its escape, so the log line stays one line
        of plain text, cut to ``limit`` characters.
    """
    text = str(value)
    head = text[:limit]  # enough for the escaped text's first ``limit`` characters: an escape is never shorter
    safe = head if head.isprintable() else "".join(char if char.isprintable() else _escape(char) for char in head)
    if len(text) <= limit and len(safe) <= limit:
        return safe
    return f"{safe[:limit]}...({len(text)} characters)"
