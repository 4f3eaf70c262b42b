"""``python -m SDSegLogic.server``: launch one engine process (:func:`SDSegLogic.server.engine_main.main`).

The engine's modules import NumPy, which takes 0.1 s warm and seconds from a cold disk. A SIGTERM
in that time took the signal's default action (exit code 143, no message) and a Ctrl-C was a
``KeyboardInterrupt`` traceback, against PROTOCOL.md ("Startup contract": exit code 0 after SIGTERM
or Ctrl-C, with one line). So this launcher imports only :mod:`.engine_signals` (standard library),
turns on the start-up handling, and then imports the engine: a signal from here on is one line
on stderr and exit code 0, with nothing written (the token file is written later, by ``main``).

Importing this module, rather than running it, turns nothing on; the engine's functions (``main``,
``build_parser``, ...) are still reachable here, as :mod:`.engine_main` attributes.
"""

from __future__ import annotations

import sys
from typing import Any

from .engine_signals import StartInterrupted, start_interrupted_text, stop_start_on_sigterm


def launch() -> int:
    """Import the engine with SIGTERM and Ctrl-C handled from the start, then run it; returns the exit code."""
    restore = stop_start_on_sigterm()  # main joins this start phase and ends it once it serves
    try:
        try:
            from .engine_main import main
        except (KeyboardInterrupt, StartInterrupted) as exc:
            print(start_interrupted_text(exc), file=sys.stderr)
            return 0
        return main()
    finally:
        restore()


def __getattr__(name: str) -> Any:
    """The engine's functions for code that imports them from here (``from SDSegLogic.server.__main__ import main``)."""
    from . import engine_main

    try:
        return getattr(engine_main, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


if __name__ == "__main__":
    sys.exit(launch())
