"""Client-supplied text made safe for one engine log line (job ids, names): no forged lines, no terminal escapes.

A ``job_id`` is whatever string the client sent. Logged as given, ``"7\\n2026-01-01 ... sdseg-engine
ERROR ..."`` wrote a second, forged log line, and an ANSI escape (``"\\x1b[2J"``) acted on the terminal
that shows the log. Replies keep the text as given; only log lines use :func:`log_safe`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["log_safe"]


def _escape(char: str) -> str:
    """One non-printable character as a Python-style escape (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return char.encode("unicode_escape").decode("ascii")


def log_safe(value: Any) -> str:
    """``str(value)`` with every non-printable character escaped (newlines, ``ESC``, ``U+2028``...).

    Args:
        value: client-supplied text (or anything; ``str`` is applied first).

    Returns:
        The same text when it is printable (the usual case: ``"job-7"``), else a copy in which each
        non-printable character is written as its escape, so the log line stays one line of plain text.
    """
    text = str(value)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)
