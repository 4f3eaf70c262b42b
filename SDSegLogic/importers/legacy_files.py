"""Reading legacy weight files safely: safetensors, or ``torch.load(weights_only=True)`` only."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Optional

from ..errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["missing_entry_text", "read_state_dict", "strip_prefix"]

_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;]*m")  # torch's messages embolden text for terminals
_UNPICKLER_ERROR = "WeightsUnpickler error:"


def read_state_dict(path: Path) -> Dict[str, "torch.Tensor"]:
    """Flat ``{name: tensor}`` of a ``.safetensors`` (any letter case), ``.ckpt``, ``.pt``, ``.pth`` or ``.bin`` file.

    The format is told by the content (:func:`_content_kind`); the name only for a file too damaged to tell.

    Pickle-based files are opened with ``torch.load(..., weights_only=True)``: plain tensors and
    containers load; arbitrary Python objects are refused instead of executed. A Lightning
    checkpoint's ``state_dict`` entry is returned; other entries (optimizer, callbacks) are ignored.
    A zip-format file (what ``torch.save`` writes since torch 1.6) is memory-mapped: its tensors stay
    on disk until read, so a Lightning ``.ckpt`` whose optimizer states take gigabytes costs only
    the memory of the weights used; an older non-zip pickle is read whole.
    Non-tensor entries (e.g. ``model_ema.num_updates`` stored as an int) and non-string keys are dropped.

    Raises:
        CheckpointError: missing, unreadable or unsafe file.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file; check the path to the checkpoint.")
    kind = _content_kind(path)
    if kind == "safetensors" or (kind is None and path.suffix.lower() == ".safetensors"):  # any letter case
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc}).") from None
    try:
        if path.name.lower().endswith(".safetensors"):  # torch.load would hand such a path to safetensors
            with open(path, "rb") as handle:  # an open file cannot be memory-mapped: read whole
                data = torch.load(handle, map_location="cpu", weights_only=True)
        else:
            data = torch.load(str(path), map_location="cpu", weights_only=True, mmap=kind == "zip")
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


def _content_kind(path: Path) -> Optional[str]:
    """``"safetensors"`` or ``"zip"`` (``torch.save`` since torch 1.6) by the file's first bytes, else None.

    The content decides, not the name: a safetensors file saved as ``.ckpt`` (or a ``torch.save``
    zip named ``.safetensors``) is read as what it is. Only a zip can be memory-mapped by ``torch.load``.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
            size = os.fstat(handle.fileno()).st_size
    except OSError:  # unreadable: the reader that follows reports it
        return None
    if head[:4] == b"PK\x03\x04":
        return "zip"
    # safetensors: an 8-byte little-endian header length, then the JSON header, which opens with "{"
    if len(head) == 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= size - 8:
        return "safetensors"
    return None


def _load_failure(exc: BaseException) -> str:
    """The telling part of a ``torch.load`` error (no terminal codes).

    The refused Python object, else the unpickler's own complaint (not torch's preamble, whose first
    line, cut short, reads as advice to load with ``weights_only=False``), else the first line.
    """
    text = _TERMINAL_CODES.sub("", str(exc))
    for line in text.splitlines():
        if "Unsupported global:" in line:  # weights_only refused an object: name it, it is what the user must remove
            refused = line.split("Unsupported global:", 1)[1].split(" was not an allowed global", 1)[0].strip()
            refused = refused[len("GLOBAL "):] if refused.startswith("GLOBAL ") else refused
            return f"it holds the Python object {refused}, which weights_only refuses to build"
    if _UNPICKLER_ERROR in text:  # the cause follows torch's boilerplate, whose first line ends in "set to False"
        detail = next((line.strip() for line in text.split(_UNPICKLER_ERROR, 1)[1].splitlines() if line.strip()), "")
        if detail:
            return f"not a checkpoint torch can read: {detail[:200]}"
    return (text.splitlines() or ["no further detail"])[0][:200]


def strip_prefix(state: Dict[str, "torch.Tensor"], prefix: str) -> Dict[str, "torch.Tensor"]:
    """Entries whose key starts with ``prefix``, with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _subscript(path: tuple) -> str:
    return "".join(f"[{part!r}]" for part in path) or "the top level"


def missing_entry_text(path: Path, key: str) -> str:
    """Why :func:`read_state_dict` of the pickle ``path`` has no tensor ``key``, and the remedy: one sentence.

    Names where the file keeps its tensors and where, if anywhere, ``key`` is: nested deeper than
    ``['state_dict']`` (e.g. ``['model']['state_dict']``), or stored as a plain number (dropped: only
    tensors are read). Returns ``""`` for a file this cannot load again (e.g. safetensors).
    """
    import torch

    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True, mmap=_content_kind(path) == "zip")
    except Exception:  # read once already; a second failure leaves the caller's own sentence
        return ""
    holders, found = [], []  # (subscripts, tensors held directly), (subscripts, value) of ``key``

    def walk(node: object, where: tuple) -> None:
        if not isinstance(node, dict) or len(where) > 4:
            return
        tensors = sum(isinstance(value, torch.Tensor) for value in node.values())
        if tensors:
            holders.append((where, tensors))
        if key in node:
            found.append((where + (key,), node[key]))
        for name, value in node.items():
            if isinstance(name, str) and isinstance(value, dict):
                walk(value, where + (name,))

    walk(data, ())
    load = f"torch.load({str(path)!r}, weights_only=True)"
    where_tensors = ", ".join(f"{_subscript(w)} ({n} tensors)" for w, n in holders[:3]) or "nowhere"
    tensor_at = next((w for w, v in found if isinstance(v, torch.Tensor)), None)
    if tensor_at is not None:
        inner = tensor_at[:-1]
        return (f"{path}: its weights and {key!r} are nested at {_subscript(inner)}, but only the top level or "
                f"['state_dict'] is read; save that dict on its own and import the new file: "
                f"torch.save({load}{_subscript(inner)}, 'weights.ckpt').")
    if found:
        at, value = found[0]
        read = ("state_dict",) if isinstance(data, dict) and isinstance(data.get("state_dict"), dict) else ()
        return (f"{path}: {key!r} is stored at {_subscript(at)} as {type(value).__name__} {value!r}, not as a tensor "
                f"of the state dict (tensors found at: {where_tensors}); store it as one, e.g. ckpt = {load}; "
                f"ckpt{_subscript(read) if read else ''}[{key!r}] = torch.tensor({value!r}); "
                "torch.save(ckpt, 'fixed.ckpt'), and import the new file.")
    return (f"{path}: no {key!r} anywhere in the file (tensors found at: {where_tensors}); an SDSeg/LDM Lightning "
            "checkpoint stores it in its state_dict. A bare UNet or autoencoder cannot be imported on its own: use the "
            "checkpoint that training wrote (e.g. last.ckpt).")
