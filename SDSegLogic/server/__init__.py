"""The SDSeg engine process and its client.

Start an engine (the model stays loaded between requests)::

    python -m SDSegLogic.server --model sdseg-demo-ct-lite --device auto --token-file ~/.sdseg/token

and talk to it from any Python (no Qt needed)::

    from SDSegLogic.server.client import EngineProcess
    with EngineProcess.start("sdseg-demo-ct-lite") as engine:
        result = engine.client().segment(volume, geometry, on_progress=print)

The wire protocol is documented in ``PROTOCOL.md`` in this folder.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROTOCOL_VERSION"]


def __getattr__(name: str) -> Any:
    """``PROTOCOL_VERSION``, imported on first use: ``python -m SDSegLogic.server`` imports this package
    before its launcher turns on the start-up signal handling, so the package itself imports no NumPy."""
    if name == "PROTOCOL_VERSION":
        from .protocol import PROTOCOL_VERSION

        return PROTOCOL_VERSION
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
