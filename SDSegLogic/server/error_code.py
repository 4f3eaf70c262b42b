"""The protocol's error code as the reference client appends it to a message: ``"... [engine error: busy]"``.

One spelling for both sides: :class:`~SDSegLogic.server.client_types.EngineError` writes it with
:func:`with_error_code`; a view that shows only the message (the Slicer panel's status line) takes it
off again with :func:`without_error_code`, or with :data:`ERROR_CODE_AT_END` itself. Standard library only.

Codes are the protocol's (PROTOCOL.md, "Error codes"): letters, digits and ``_``, such as
``input_error``. A code from an engine that breaks that rule (``"a]b"``, a line break, 1 MiB of text)
is written in that alphabet too (:func:`code_text`: any other character becomes ``?``, the first
:data:`MAX_CODE_CHARS` characters kept), so that what the writer appends the stripper always takes off.
"""

from __future__ import annotations

import re

__all__ = ["ERROR_CODE_AT_END", "MAX_CODE_CHARS", "code_text", "with_error_code", "without_error_code"]

_OPEN = "[engine error: "
#: most characters of a code that a message shows (the protocol's longest code has 16)
MAX_CODE_CHARS = 64
_CODE_CHAR = "A-Za-z0-9_?"
_NOT_CODE_CHAR = re.compile(f"[^{_CODE_CHAR}]")

ERROR_CODE_AT_END = re.compile(r"\s*" + re.escape(_OPEN) + f"[{_CODE_CHAR}]{{0,{MAX_CODE_CHARS}}}" + r"\]\s*$")
"""The code and the blanks around it at the end of a text, as :func:`with_error_code` writes it."""


def code_text(code: object) -> str:
    """``code`` as a message shows it: the protocol's alphabet (letters, digits, ``_``), any other character as ``?``.

    A code longer than :data:`MAX_CODE_CHARS` is cut there.
    """
    return _NOT_CODE_CHAR.sub("?", str(code)[:MAX_CODE_CHARS])


def with_error_code(message: str, code: object) -> str:
    """``message`` followed by the engine's error ``code``: ``"the volume is empty [engine error: input_error]"``."""
    return f"{message} {_OPEN}{code_text(code)}]"


def without_error_code(text: str) -> str:
    """``text`` without a code that :func:`with_error_code` put at its end (unchanged when there is none)."""
    return ERROR_CODE_AT_END.sub("", text)
