"""Reading legacy weight files safely: safetensors, or ``torch.load(weights_only=True)`` only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Dict

from ..errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["read_state_dict", "strip_prefix"]

_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;]*m")  # torch's messages embolden text for terminals


def read_state_dict(path: Path) -> Dict[str, "torch.Tensor"]:
    """Flat ``{name: tensor}`` of a ``.safetensors`` (any letter case), ``.ckpt``, ``.pt``, ``.pth`` or ``.bin`` file.

    Pickle-based files are opened with ``torch.load(..., weights_only=True)``: plain tensors and
    containers load; arbitrary Python objects are refused instead of executed. A Lightning
    checkpoint's ``state_dict`` entry is returned; other entries (optimizer, callbacks) are ignored.
    Non-tensor entries (e.g. ``model_ema.num_updates`` stored as an int) and non-string keys are dropped.

    Raises:
        CheckpointError: missing, unreadable or unsafe file.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file; check the path to the checkpoint.")
    if path.suffix.lower() == ".safetensors":  # any letter case: Windows and download tools upper-case names
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc}).") from None
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError (with no message for an empty file)...
        raise CheckpointError(
            f"{path}: cannot be read safely with torch.load(weights_only=True) ({type(exc).__name__}: "
            f"{_load_failure(exc)}). If it is truncated or empty, download it again; if it holds custom Python "
            "objects, re-save only its state_dict (tensors) in a trusted environment."
        ) from None
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, found {type(data).__name__}.")
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def _load_failure(exc: BaseException) -> str:
    """The telling part of a ``torch.load`` error: the refused Python object, else the first line (no terminal codes)."""
    text = _TERMINAL_CODES.sub("", str(exc))
    for line in text.splitlines():
        if "Unsupported global:" in line:  # weights_only refused an object: name it, it is what the user must remove
            refused = line.split("Unsupported global:", 1)[1].split(" was not an allowed global", 1)[0].strip()
            refused = refused[len("GLOBAL "):] if refused.startswith("GLOBAL ") else refused
            return f"it holds the Python object {refused}, which weights_only refuses to build"
    return (text.splitlines() or ["no further detail"])[0][:200]


def strip_prefix(state: Dict[str, "torch.Tensor"], prefix: str) -> Dict[str, "torch.Tensor"]:
    """Entries whose key starts with ``prefix``, with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
