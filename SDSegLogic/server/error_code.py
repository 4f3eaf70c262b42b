"""The protocol's error code as the reference client appends it to a message: ``"... [engine error: busy]"``.

One spelling for both sides: :class:`~SDSegLogic.server.client_types.EngineError` writes it with
:func:`with_error_code`; a view that shows only the message (the Slicer panel's status line) takes it
off again with :func:`without_error_code`, or with :data:`ERROR_CODE_AT_END` itself. Standard library only.
"""

from __future__ import annotations

import re

__all__ = ["ERROR_CODE_AT_END", "with_error_code", "without_error_code"]

_OPEN = "[engine error: "

ERROR_CODE_AT_END = re.compile(r"\s*" + re.escape(_OPEN) + r"[^\]]*\]\s*$")
"""The code and the blanks around it at the end of a text, as :func:`with_error_code` writes it."""


def with_error_code(message: str, code: str) -> str:
    """``message`` followed by the engine's error ``code``: ``"the volume is empty [engine error: input_error]"``."""
    return f"{message} {_OPEN}{code}]"


def without_error_code(text: str) -> str:
    """``text`` without a code that :func:`with_error_code` put at its end (unchanged when there is none)."""
    return ERROR_CODE_AT_END.sub("", text)
