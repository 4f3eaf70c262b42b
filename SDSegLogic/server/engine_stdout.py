"""The engine process's stdout: the one ``ready`` line, then nothing (all later output goes to stderr).

Used by :mod:`SDSegLogic.server.engine_main` (PROTOCOL.md, "Startup contract").
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, Optional

__all__ = ["route_stdout_to_stderr", "write_ready_line"]


def write_ready_line(ready: Dict[str, Any]) -> Optional[Exception]:
    """Write ``ready`` as one JSON line to stdout; returns None when it was written, else why not.

    Returns:
        None; a ``BrokenPipeError`` when the reader went away (the parent died); another
        ``OSError``, or an ``AttributeError`` for no stdout at all, when stdout was never writable
        (started with ``>&-`` or read-only ``1</dev/null``). The engine used to die on the last
        two with a traceback (exit code 1) although it could serve a client that knows the port.
    """
    try:
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
    except (AttributeError, OSError, ValueError) as exc:  # AttributeError: sys.stdout is None; ValueError: closed file
        return exc
    return None


def route_stdout_to_stderr() -> None:
    """Send everything written to stdout from now on to stderr (the engine log).

    The parent reads the engine's stdout only until the ``ready`` line. Anything a library prints
    later would fill that pipe (about 64 KiB) and then block the printing thread, a running job
    included, while pings still answer: a hang nobody could see. Both the Python object and file
    descriptor 1 (C extensions write to it directly) are pointed at stderr.
    """
    if sys.stdout is None:  # started without stdout (">&-"): descriptor 1 may be in use for something else now
        sys.stdout = sys.stderr
        return
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # the parent stopped reading, or stdout was never writable; the rest goes to stderr below
        pass
    try:
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no real descriptors (embedded, redirected in-process)
        pass
    sys.stdout = sys.stderr
