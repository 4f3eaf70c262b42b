"""The field checks of one ``models.json`` entry, as ``Resources/models.schema.json`` states them.

:meth:`SDSegLogic.registry.RegistryEntry.from_dict` checks the keys (unknown, missing) and then calls
:func:`check_entry_fields` for the values: no ``null`` (an optional key is left out), JSON types, required
non-empty text, number ranges, the ``modality`` enum, the folder-safe id and version, ``path`` xor ``url`` +
``sha256``, and the ``path`` character pattern. Every refusal names the entry, the key, the value and what
is allowed.

Standard library only: the registry is read without torch or SimpleITK.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Dict

from .errors import ModelCardError
from .model_names import model_id_problem, version_problem

__all__ = ["MODALITIES", "PATH_PATTERN", "check_entry_fields"]

_NUMBER = (int, float)
#: JSON type of every optional or free-text field (as in models.schema.json); bool is not a number here.
_FIELD_TYPES = {"title": str, "task": str, "modality": str, "license": str, "description": str, "input_channels": int,
                "path": str, "url": str, "sha256": str, "size_bytes": int, "cpu_seconds_per_slice": _NUMBER,
                "gpu_seconds_per_slice": _NUMBER, "timing_hardware": str, "sample_data": str, "deprecated": bool,
                "obtain": str}

_REQUIRED_TEXT = ("title", "task", "modality", "license")  # models.schema.json: strings of >= 1 character
_FIELD_RANGES = (("cpu_seconds_per_slice", lambda v: math.isfinite(v) and v > 0, "a finite number of seconds > 0"),
                 ("gpu_seconds_per_slice", lambda v: math.isfinite(v) and v > 0, "a finite number of seconds > 0"),
                 ("size_bytes", lambda v: v >= 0, "a number of bytes >= 0"),
                 ("input_channels", lambda v: v in (1, 3), "1 (CT, CBCT) or 3 (RGB)"))
#: models.schema.json's ``modality`` enum (exact spelling, letter case included)
MODALITIES = ("CT", "CBCT", "MR", "fundus", "endoscopy", "dermoscopy", "other")
#: models.schema.json's ``path`` pattern: ASCII letters, digits and ``_`` first, then also ``.``, ``/`` and ``-``
PATH_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9._/-]*"
_SCHEMA = "see Resources/models.schema.json."


def check_entry_fields(data: Dict[str, Any], where: str) -> None:
    """Check the values of one entry whose keys are known and complete.

    Args:
        data: the entry as read from JSON.
        where: ``<models.json>: models[<i>]``, the start of every message.

    Raises:
        ModelCardError: the first value the schema refuses, naming the key, the value and what is allowed.
    """
    for key in (k for k in sorted(_FIELD_TYPES) if k in data and data[k] is None and k not in _REQUIRED_TEXT):
        raise ModelCardError(f"{where}: {key} is null; leave an optional key out instead of setting it to null "
                             f"(the schema types every key and allows no null); {_SCHEMA}")
    for key in (k for k in _REQUIRED_TEXT if not (isinstance(data[k], str) and data[k])):  # null, "" pass below
        raise ModelCardError(f"{where}: {key} {data[key]!r} must be a non-empty string; {_SCHEMA}")
    for key, kind in _FIELD_TYPES.items():
        value = data.get(key)
        if value is not None and (not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))):
            raise ModelCardError(f"{where}: {key} {value!r} has the wrong type; {_SCHEMA}")
    for key, fits, rule in _FIELD_RANGES:  # as the schema says; beyond, the ETA and the panel's estimate fail later
        if data.get(key) is not None and not fits(data[key]):
            raise ModelCardError(f"{where}: {key} {data[key]!r} must be {rule}; {_SCHEMA}")
    for key in ("classes", "references"):
        value = data.get(key, [])
        at_least = " (at least one)" if key == "classes" else ""  # models.schema.json: classes minItems 1
        if (not isinstance(value, list) or not all(isinstance(item, str) and (item or key == "references") for item in value)
                or (at_least and not value)):
            raise ModelCardError(f"{where}: {key} {value!r} must be a list of names{at_least}; {_SCHEMA}")
    model_id, version = data["id"], data["version"]
    problem = model_id_problem(model_id, "fix id in models.json") or version_problem(version, "fix version in models.json")
    if problem:  # names the one that is wrong
        raise ModelCardError(f"{where}: {problem}")
    if data["modality"] not in MODALITIES:  # the panel and model cards match these spellings exactly
        raise ModelCardError(f"{where}: model {model_id!r}: modality {data['modality']!r} is not one of "
                             f"{', '.join(MODALITIES)} (exact spelling and letter case); {_SCHEMA}")
    if bool(data.get("path")) == bool(data.get("url")) or bool(data.get("url")) != bool(data.get("sha256")):
        raise ModelCardError(f"{where}: model {model_id!r} needs either 'path' or both 'url' and 'sha256'.")
    path, url, digest = data.get("path"), data.get("url"), data.get("sha256")
    if path and (Path(path).is_absolute() or ".." in Path(path).parts or "\\" in path):
        raise ModelCardError(f"{where}: path {path!r} must be a relative folder inside the repository (no '..').")
    if path and not re.fullmatch(PATH_PATTERN, path):
        raise ModelCardError(f"{where}: model {model_id!r}: path {path!r} may hold only the characters A-Z a-z 0-9 _ "
                             ". / - (ASCII; no spaces), and must start with a letter, a digit or _ (e.g. "
                             f"Resources/Models/{model_id}); rename the folder; {_SCHEMA}")
    if url and (not str(url).startswith("https://") or not re.fullmatch(r"[0-9a-f]{64}", str(digest))):
        raise ModelCardError(f"{where}: url {url!r} must start with https:// and sha256 be 64 lower-case hex digits.")
