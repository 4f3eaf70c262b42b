"""Check weight files against ``config.json`` at import, from safetensors headers (no tensor is loaded).

A model zip whose ``config.json`` does not describe its weights (a channel count edited, the config of
another model copied in) was installed and failed only when first loaded. :func:`check_folder_shapes`
reads each weight file's header (the JSON table of names, dtypes and shapes at the start of a
safetensors file), builds the model of ``config.json`` on PyTorch's meta device (no memory, no
initialisation) and compares. :func:`check_shapes` does the same for tensors in memory (an
official checkpoint). A mismatch names the tensor, both shapes and the ``config.json`` keys that set
that tensor's shape (found by building the model with each key changed: :func:`_keys_setting`); tensors
missing or beyond the model's, and integer or boolean tensors (every weight is floating point), are
refused by name too, and so are 8-bit floating-point ones (too coarse to be the weights).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import struct
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .config import SDSegConfig
from .errors import CheckpointError, WeightsMismatchError

__all__ = ["INSTALLED_NOTHING", "safetensors_shapes", "check_shapes", "check_folder_shapes"]

Shape = Tuple[int, ...]
#: a safetensors header larger than this is not one (the format itself caps it at 100 MB)
_MAX_HEADER = 100 * 1024 * 1024
#: the last sentence of an import's refusal; ``sdseg models verify`` and Slicer's "Use model folder" say their own
INSTALLED_NOTHING = "Nothing was installed."
#: config sections that hold architecture sizes (the schedule and top-level fields set no weight shape)
_SECTIONS = ("unet", "autoencoder", "condition_encoder", "fast_decoder")
#: safetensors dtypes a weight may be stored as: the floating-point types of at least 16 bits (an 8-bit float such
#: as F8_E4M3 keeps 3 mantissa bits: loaded, it is upcast without a word and the single denoising step amplifies
#: the rounding); :func:`SDSegLogic.model_folder.load_state_dict_checked` applies the same rule to loaded tensors
_FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})
#: bytes per element of the safetensors dtypes (a dtype not listed is left to safetensors' own check)
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
                "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def safetensors_shapes(path: Path) -> Dict[str, Shape]:
    """Tensor name -> shape from a safetensors file's header (its first 8 + N bytes); no tensor data is read.

    Raises:
        CheckpointError: not a safetensors file (header length or JSON malformed), naming the file.
    """
    return {name: shape for name, (_, shape) in _header(path).items()}


def _header(path: Path, name: Optional[str] = None) -> Dict[str, Tuple[str, Shape]]:
    """Tensor name -> (safetensors dtype such as ``"F32"``, shape) from the file's header; ``name``: how errors
    name the file (default its path; a zip import names the member, not its staging folder).

    The header's ``data_offsets`` are checked as ``safetensors`` checks them when it loads the file
    (:func:`_check_offsets`), so a header that lies about sizes or offsets is refused here too.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            size = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            if not 2 <= size <= _MAX_HEADER:
                raise ValueError(f"header length {size}")
            table = json.loads(fh.read(size).decode("utf-8"))
            data_bytes = os.fstat(fh.fileno()).st_size - 8 - size
        found = {name: (str(entry["dtype"]), tuple(int(n) for n in entry["shape"]))
                 for name, entry in table.items() if name != "__metadata__"}
        _check_offsets({name: table[name]["data_offsets"] for name in found}, found, data_bytes)
        return found
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{name or path}: not a readable safetensors file ({exc}); re-export the model.") from None


def _check_offsets(offsets: Mapping[str, Sequence[int]], found: Mapping[str, Tuple[str, Shape]], data_bytes: int) -> None:
    """Refuse ``data_offsets`` that ``safetensors`` refuses when loading: each tensor's bytes must follow the
    previous tensor's without gap or overlap (two tensors sharing bytes), span its dtype's size times its element
    count, and the last must end where the file ends.

    Raises:
        ValueError: naming the tensor and the offsets.
    """
    end = 0
    for name, (begin, stop) in sorted(((n, tuple(int(v) for v in o)) for n, o in offsets.items()),
                                      key=lambda item: item[1]):
        if begin != end:
            raise ValueError(f"tensor {name!r} starts at data byte {begin}, not where the previous one ends ({end}): "
                             "tensors overlap or leave a gap")
        dtype, shape = found[name]
        width = _DTYPE_BYTES.get(dtype)
        if width is not None and stop - begin != width * math.prod(shape):
            raise ValueError(f"tensor {name!r} is {dtype} {list(shape)} ({width * math.prod(shape)} bytes) but its "
                             f"data_offsets span {stop - begin} bytes")
        end = stop
    if end != data_bytes:
        raise ValueError(f"the header's tensors end at data byte {end} but the file holds {data_bytes} data bytes "
                         "(truncated, or the header lies about the sizes)")


def _expected(config: SDSegConfig) -> Dict[str, Dict[str, Shape]]:
    """Component -> tensor name -> shape of the model ``config`` builds (on the meta device)."""
    import torch

    from .models.sdseg_model import SDSegModel

    with torch.device("meta"):
        model = SDSegModel(config)
    return {name: {k: tuple(v.shape) for k, v in model.component(name).state_dict().items()}
            for name in model.component_names}


def _perturbed(config: SDSegConfig):
    """``(config key, config with that key's sizes doubled)`` for every integer size of the architecture sections."""
    for section in _SECTIONS:
        part = getattr(config, section)
        if part is None:
            continue
        for field in dataclasses.fields(part):
            value = getattr(part, field.name)
            sizes = value if isinstance(value, tuple) else (value,)
            if not sizes or not all(isinstance(v, int) and not isinstance(v, bool) for v in sizes):
                continue  # not a size: a flag, a rate, a list of flags, None (a binary model's num_classes)
            doubled = tuple(2 * v for v in value) if isinstance(value, tuple) else 2 * value
            try:
                changed = config.replace(**{section: dataclasses.replace(part, **{field.name: doubled})})
            except Exception:  # noqa: BLE001 - a size that cannot double (the config refuses it) sets nothing here
                continue
            yield f"{section}.{field.name}", changed


def _keys_setting(config: SDSegConfig, wanted: List[Tuple[str, str, Shape]]) -> Dict[Tuple[str, str], List[str]]:
    """(component, tensor) -> the config keys whose change changes that tensor's size along an axis where the
    file's shape (the third item of ``wanted``) differs (any axis when the ranks differ); error path only."""
    base = _expected(config)
    found: Dict[Tuple[str, str], List[str]] = {(component, tensor): [] for component, tensor, _ in wanted}
    for key, changed in _perturbed(config):
        try:
            shapes = _expected(changed)
        except Exception:  # noqa: BLE001 - an architecture that does not build with this size
            continue
        for component, tensor, in_file in wanted:
            ours, theirs = base[component][tensor], shapes.get(component, {}).get(tensor)
            axes = [a for a in range(len(ours)) if len(in_file) != len(ours) or in_file[a] != ours[a]]
            if theirs is not None and len(theirs) == len(ours) and any(theirs[a] != ours[a] for a in axes):
                found[(component, tensor)].append(key)
    return found


def _value(config: SDSegConfig, key: str) -> str:
    section, name = key.split(".")
    value = getattr(getattr(config, section), name)
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def _refuse(config: SDSegConfig, config_name: str, wrong: List[Tuple[str, str, str, Shape, Shape]],
            outcome: str = INSTALLED_NOTHING) -> None:
    """Raise the WeightsMismatchError for ``wrong``: (source, component, tensor, file shape, model shape) rows."""
    keys = _keys_setting(config, [(component, tensor, found) for _, component, tensor, found, _ in wrong[:3]])
    lines = []
    for source, component, tensor, found, expected in wrong[:3]:
        setting = keys.get((component, tensor)) or []
        named = ", ".join(f"{key} = {_value(config, key)}" for key in setting) or f"the {component} section"
        lines.append(f"{source}: tensor {tensor!r} has shape {found} but {config_name} makes it {expected} "
                     f"(set by {named})")
    more = f" (and {len(wrong) - 3} more tensors)" if len(wrong) > 3 else ""
    raise WeightsMismatchError("; ".join(lines) + f"{more}. The weights do not fit the architecture in {config_name}: "
                               f"use the config.json these weights were trained with (or fix the keys named). {outcome}")


def check_shapes(config: SDSegConfig, parts: Sequence[Tuple[str, str, Mapping[str, Shape]]],
                 config_name: str = "config.json", outcome: str = INSTALLED_NOTHING) -> None:
    """Refuse tensors whose shapes differ from those of the model ``config`` builds.

    Args:
        parts: ``(source, component, tensor name -> shape)``: the shapes of one file (or of tensors in memory),
            the component they are for and the file (or ``checkpoint (component)``) the message names.
        config_name: what the configuration is called in the message.
        outcome: the message's last sentence: what the refusal left as it was.

    Raises:
        WeightsMismatchError: naming each of the first wrong tensors, its shape, the expected shape and the
            config keys that set it; else naming the tensors a part lacks or has beyond the model's.
    """
    expected = _expected(config)
    wrong = [(source, component, tensor, tuple(shape), expected[component][tensor])
             for source, component, shapes in parts for tensor, shape in sorted(shapes.items())
             if tensor in expected.get(component, {}) and tuple(shape) != expected[component][tensor]]
    if wrong:
        _refuse(config, config_name, wrong, outcome)
    lines = []
    for source, component, shapes in parts:
        missing = sorted(set(expected.get(component, {})) - set(shapes))
        unexpected = sorted(set(shapes) - set(expected.get(component, {})))
        said = [f"{what.format(len(names))}: {_listed(names)}" for what, names in
                (("lacks {} tensor(s) the model needs", missing), ("has {} tensor(s) the model does not", unexpected))
                if names]
        if said:
            lines.append(f"{source}: " + "; ".join(said))
    if lines:
        raise WeightsMismatchError("; ".join(lines) + f". The weights do not fit the architecture in {config_name} "
                                   "(a layer count or the class count edited, or another model's file): use the "
                                   f"config.json these weights were trained with. {outcome}")


def _listed(names: List[str], limit: int = 6) -> str:
    return ", ".join(repr(n) for n in names[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def check_folder_shapes(folder: Path, source: Optional[str] = None, outcome: str = INSTALLED_NOTHING) -> None:
    """Check every weight file a model folder's card lists for a component (fp32 and fp16 alike) against its
    ``config.json``, before the folder is installed.

    Only the safetensors headers are read. Without torch (a Slicer that has not installed it yet) the
    check is left to the first load, which makes it too.

    Args:
        source: how messages name the folder (e.g. the zip it came from); default the folder.
        outcome: the messages' last sentence (default: for an import, nothing was installed).

    Raises:
        WeightsMismatchError: as :func:`check_shapes`, or a tensor stored as an integer, boolean or 8-bit float type;
            CheckpointError: a header that cannot be read.
    """
    import importlib.util

    from .model_card import ModelCard
    from .model_folder import CARD_NAME, CONFIG_NAME, stored_components, weight_file_name

    if importlib.util.find_spec("torch") is None:
        return
    config = SDSegConfig.from_json(folder / CONFIG_NAME)
    card = ModelCard.from_json(folder / CARD_NAME)
    parts, not_float = [], []
    for component in stored_components(config):
        names = (weight_file_name(component), weight_file_name(component, "fp16"))
        for rel in sorted(rel for rel in card.weights if Path(rel).name in names):
            table = _header(folder / rel, f"{source}: {rel}" if source else None)
            parts.append((f"{source or folder}: {rel}", component, {k: shape for k, (_, shape) in table.items()}))
            not_float += [f"{source or folder}: {rel}: tensor {k!r} is stored as {dtype}" for k, (dtype, _) in
                          sorted(table.items()) if dtype not in _FLOAT_DTYPES]
    check_shapes(config, parts, outcome=outcome)
    if not_float:  # every weight of the SDSeg networks is floating point of >= 16 bits; the load refuses the others
        raise WeightsMismatchError("; ".join(not_float[:3]) + (f" (and {len(not_float) - 3} more)" if len(not_float) > 3
                                   else "") + ", but the model's weights are stored as F32, F16, BF16 or F64 "
                                   "(integers, booleans and 8-bit floats are not): re-export the model in full or half "
                                   f"precision. {outcome}")
