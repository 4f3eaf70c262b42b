"""The model registry (``Resources/models.json``) and the user's model cache.

A model is named either by a **folder path** (any folder with ``config.json``,
``model_card.json`` and safetensors weights) or by a **registry id**, optionally with a
version: ``sdseg-demo-ct-lite`` or ``sdseg-demo-ct-lite@0.1.0``. An id resolves to

1. the user cache ``<home>/models/<id>/<version>/``, where ``<home>`` is ``$SDSEG_HOME`` (an
   absolute path) or ``~/.sdseg``; models get there only through :func:`SDSegLogic.model_zip.import_zip`
   (``sdseg models import``);
2. a bundled folder inside the repository (the entry's ``path``, relative to the folder that
   holds ``Resources/``).

The highest version found wins (the cache wins a tie), among the copies that hold a model's files:
a newer copy without them is skipped with a warning (:mod:`SDSegLogic.registry_pick`). Nothing is
ever downloaded: for a downloadable entry the error message gives the URL and sha256 so the user
can fetch the zip.

The registry file is ``$SDSEG_REGISTRY`` when set, else ``Resources/models.json`` next to this
package in a source checkout; its JSON Schema is ``Resources/models.schema.json``.

Standard library only (no torch, no SimpleITK): importing this module is instant.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

from .errors import CheckpointError, ModelCardError
from .model_folder import sha256_file
from .model_names import (is_folder_safe_id, is_folder_safe_version, model_id_problem, same_version,
                          version_key as _version_key, version_problem)
from .registry_fields import check_entry_fields
from .registry_pick import pick_copy

__all__ = [
    "DEFAULT_MODEL_ID",
    "ModelNotFoundError",
    "ModelsHomeError",
    "RegistryEntry",
    "Registry",
    "ResolvedModel",
    "default_registry_path",
    "models_home",
    "cache_folder",
    "installed_versions",
    "installed_folder",
    "same_version",
    "is_folder_safe_id",
    "is_folder_safe_version",
    "resolve_model",
    "sha256_file",
]

DEFAULT_MODEL_ID = "sdseg-demo-ct-lite"
REGISTRY_ENV = "SDSEG_REGISTRY"
HOME_ENV = "SDSEG_HOME"

PathLike = Union[str, "os.PathLike[str]"]

class ModelNotFoundError(CheckpointError):
    """A model id or folder does not resolve to an installed model."""


# ---------------------------------------------------------------------- registry
@dataclass(frozen=True)
class RegistryEntry:
    """One version of one model in ``models.json`` (fields as in ``models.schema.json``)."""

    id: str
    version: str
    title: str
    task: str
    modality: str
    classes: Tuple[str, ...]
    license: str
    description: str = ""
    input_channels: Optional[int] = None
    path: Optional[str] = None
    url: Optional[str] = None
    sha256: Optional[str] = None
    size_bytes: Optional[int] = None
    cpu_seconds_per_slice: Optional[float] = None
    gpu_seconds_per_slice: Optional[float] = None
    timing_hardware: Optional[str] = None
    sample_data: Optional[str] = None
    references: Tuple[str, ...] = ()
    deprecated: bool = False
    obtain: Optional[str] = None

    @property
    def source(self) -> str:
        """``"bundled"`` (has ``path``) or ``"download"`` (has ``url`` + ``sha256``)."""
        return "bundled" if self.path else "download"

    def seconds_per_slice(self, device_type: str) -> Optional[float]:
        """The timing prior for ``"cpu"`` or ``"cuda"``, or ``None``."""
        return self.gpu_seconds_per_slice if device_type == "cuda" else self.cpu_seconds_per_slice

    @classmethod
    def from_dict(cls, data: dict, where: str) -> "RegistryEntry":
        if not isinstance(data, dict):
            raise ModelCardError(f"{where}: expected a JSON object, got {type(data).__name__}; see Resources/models.schema.json.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        missing = sorted(f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.name not in data)
        if unknown or missing:
            raise ModelCardError(
                f"{where}: unknown keys {unknown}, missing keys {missing}; compare with Resources/models.schema.json."
            )
        check_entry_fields(data, where)
        fields = dict(data)
        fields["classes"] = tuple(fields["classes"])
        fields["references"] = tuple(fields.get("references", ()))
        return cls(**fields)


@dataclass(frozen=True)
class Registry:
    """The parsed registry.

    Attributes:
        entries: every model version listed, in file order.
        path: the ``models.json`` read, or ``None`` for an empty registry.
        root: folder that bundled ``path`` entries are relative to (parent of ``Resources/``).
    """

    entries: Tuple[RegistryEntry, ...] = ()
    path: Optional[Path] = None
    root: Optional[Path] = None

    @classmethod
    def load(cls, path: Optional[PathLike] = None) -> "Registry":
        """Read ``path`` (default :func:`default_registry_path`); no file gives an empty registry.

        Raises:
            ModelCardError: naming the file and the remedy: missing, unreadable, not JSON, a key given twice in
                one JSON object (json would keep the last and hide the first), or an entry the schema refuses.
        """
        path = Path(path) if path is not None else default_registry_path()
        if path is None:
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
        except _DuplicateKeyError as exc:  # json keeps the last: the models of the first "models" list would vanish
            raise ModelCardError(f"{path}: the key {exc.key!r} appears twice in one JSON object; json keeps only the "
                                 "last one, which would hide what the first holds (e.g. a whole \"models\" list). Merge "
                                 "the two into one key.") from None
        except FileNotFoundError:
            raise ModelCardError(f"{path}: model registry not found; unset ${REGISTRY_ENV} or point it to a models.json.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelCardError(f"{path}: model registry is not valid JSON ({exc}); restore it from the repository.") from None
        except OSError as exc:  # a folder, no permission...
            raise ModelCardError(f"{path}: model registry cannot be read ({exc.strerror or exc}); point ${REGISTRY_ENV} "
                                 "to a readable models.json file, or unset it.") from None
        if not isinstance(data, dict) or data.get("format_version") != 1 or not isinstance(data.get("models"), list):
            raise ModelCardError(f"{path}: expected {{\"format_version\": 1, \"models\": [...]}}; see models.schema.json.")
        entries = tuple(RegistryEntry.from_dict(e, f"{path}: models[{i}]") for i, e in enumerate(data["models"]))
        seen = {}
        for entry in entries:
            other = seen.get((entry.id, entry.version.lower()))
            if other is not None:
                twice = "twice" if other == entry.version else (
                    f"twice (also as {other}: versions differing only in case are one version, as their cache folders "
                    "are one folder on Windows and macOS)")
                raise ModelCardError(f"{path}: model {entry.id!r} version {entry.version} is listed {twice}.")
            seen[(entry.id, entry.version.lower())] = entry.version
        return cls(entries, path, path.resolve().parent.parent)

    def ids(self) -> List[str]:
        return sorted({e.id for e in self.entries})

    def get(self, model_id: str, version: Optional[str] = None) -> Optional[RegistryEntry]:
        """The entry for ``model_id`` at ``version`` (any letter case; default: newest, non-deprecated first)."""
        matches = [e for e in self.entries if e.id == model_id and (version is None or same_version(e.version, version))]
        if not matches:
            return None
        return max(matches, key=lambda e: (not e.deprecated, _version_key(e.version)))

    def bundled_folder(self, entry: RegistryEntry) -> Optional[Path]:
        if not entry.path or self.root is None:
            return None
        return self.root / entry.path


class _DuplicateKeyError(ValueError):
    """A key given twice in one object of the registry's JSON (``key``: the key)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: List[Tuple[str, object]]) -> dict:
    """``object_pairs_hook`` of the registry's JSON: a key given twice in one object is an error, not "last wins"."""
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKeyError(key)
        seen[key] = value
    return seen


def default_registry_path() -> Optional[Path]:
    """``$SDSEG_REGISTRY``, else the checkout's ``Resources/models.json`` if present, else ``None``."""
    env = os.environ.get(REGISTRY_ENV)
    if env:
        return Path(env).expanduser()
    candidate = Path(__file__).resolve().parent.parent / "Resources" / "models.json"
    return candidate if candidate.is_file() else None


class ModelsHomeError(ModelNotFoundError):
    """``$SDSEG_HOME`` cannot name the model cache (a relative path)."""


def sdseg_home() -> Path:
    """Root of SDSeg's user caches (models, compiled kernels): ``$SDSEG_HOME`` or ``~/.sdseg``.

    Raises:
        ModelsHomeError: ``$SDSEG_HOME`` is a relative path. It would name another folder in
            every working directory: the engine process, the Slicer module and ``sdseg`` run in
            different ones and would each see another cache.
    """
    env = os.environ.get(HOME_ENV)
    if not env:
        return Path.home() / ".sdseg"
    base = Path(env).expanduser()
    if not base.is_absolute():
        try:
            here = f" (here {Path.cwd() / base}; set e.g. {HOME_ENV}={Path.cwd() / base})"
        except OSError:  # the working directory was removed
            here = ""
        raise ModelsHomeError(
            f"${HOME_ENV} is the relative path {env!r}, which names another folder in each working directory{here}; "
            "set it to an absolute path, or unset it to use ~/.sdseg."
        )
    return base


def models_home() -> Path:
    """Root of the user's model cache: ``$SDSEG_HOME/models`` or ``~/.sdseg/models`` (see :func:`sdseg_home`)."""
    return sdseg_home() / "models"


def cache_folder(model_id: str, version: str, home: Optional[PathLike] = None) -> Path:
    """``<home>/<id>/<version>``; both parts are checked to be folder-safe."""
    problem = model_id_problem(model_id)
    if problem:
        raise ModelCardError(problem)
    problem = version_problem(version)
    if problem:
        raise ModelCardError(f"model {model_id!r}: {problem}")
    return Path(home if home is not None else models_home()) / model_id / version


def installed_folder(model_id: str, version: str, home: Optional[PathLike] = None) -> Optional[Path]:
    """The cache folder of ``model_id`` at ``version`` (its name may differ in letter case), or ``None``.

    See :func:`same_version`; a folder named exactly ``version`` is preferred.
    """
    found = [v for v in installed_versions(model_id, home) if same_version(v, version)]
    if not found:
        return None
    name = version if version in found else found[-1]
    return Path(home if home is not None else models_home()) / model_id / name


def installed_versions(model_id: str, home: Optional[PathLike] = None) -> List[str]:
    """Versions of ``model_id`` in the cache (their folders' names), oldest first."""
    folder = Path(home if home is not None else models_home()) / model_id
    if not is_folder_safe_id(model_id) or not folder.is_dir():
        return []
    found = [p.name for p in folder.iterdir() if p.is_dir() and is_folder_safe_version(p.name)]
    return sorted(found, key=_version_key)


# ---------------------------------------------------------------------- resolution
@dataclass(frozen=True)
class ResolvedModel:
    """Where a model spec points: the folder to load and what is known about it.

    Attributes:
        folder: the model folder.
        source: ``"folder"`` (given as a path), ``"cache"`` or ``"bundled"``.
        model_id, version: from the spec or registry (``None`` for a bare folder).
        entry: the registry entry, if the registry lists this id and version.
    """

    folder: Path
    source: str
    model_id: Optional[str] = None
    version: Optional[str] = None
    entry: Optional[RegistryEntry] = None


def _looks_like_path(spec: str) -> bool:
    return os.sep in spec or "/" in spec or spec.startswith((".", "~")) or (os.altsep is not None and os.altsep in spec)


def resolve_model(spec: str, registry: Optional[Registry] = None, home: Optional[PathLike] = None) -> ResolvedModel:
    """Turn ``--model`` into a model folder.

    Args:
        spec: a folder path, ``<id>`` or ``<id>@<version>``.
        registry: default :meth:`Registry.load`.
        home: cache root, default :func:`models_home`.

    Raises:
        ModelNotFoundError: with a message saying how to obtain the model; also for an empty (or
            blank) spec, which ``Path`` would read as the current folder.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ModelNotFoundError(f"model {spec!r} is empty; pass a model folder path, a registry id or <id>@<version> "
                                 "(list them with 'sdseg models list').")
    candidate = Path(spec).expanduser()
    if candidate.is_dir():  # a folder needs no registry: an unreadable one only loses the folder's entry
        if registry is None:
            try:
                registry = Registry.load()
            except ModelCardError as exc:
                warnings.warn(f"{exc} The model folder {candidate} is used without its registry entry.", stacklevel=2)
                registry = Registry()
        model_id = version = None
        try:
            card = json.loads((candidate / "model_card.json").read_text(encoding="utf-8"))
            model_id, version = card.get("model_id"), card.get("version")
        except (OSError, ValueError, AttributeError):
            pass  # loading the folder reports a missing or broken card properly
        entry = registry.get(model_id, version) if isinstance(model_id, str) and isinstance(version, str) else None
        return ResolvedModel(candidate, "folder", model_id, version, entry)
    registry = registry if registry is not None else Registry.load()
    if candidate.is_file():
        raise ModelNotFoundError(
            f"{spec}: is a file, not a model folder. Pass a folder holding config.json, model_card.json and "
            "*.safetensors; install a zip with 'sdseg models import ZIP'; convert an original .ckpt with the "
            "training package's importer."
        )
    if _looks_like_path(spec):
        raise ModelNotFoundError(f"{spec}: no such model folder; check the path or pass a registry id ({_known(registry)}).")
    model_id, _, version = spec.partition("@")
    version = version or None
    options = []  # (version key, tie-break, ResolvedModel)
    for found in installed_versions(model_id, home):
        if version is None or same_version(found, version):
            folder = cache_folder(model_id, found, home)
            options.append((_version_key(found), 1, ResolvedModel(folder, "cache", model_id, found, registry.get(model_id, found))))
    for entry in registry.entries:
        if entry.id == model_id and (version is None or same_version(entry.version, version)) and entry.path:
            folder = registry.bundled_folder(entry)
            if folder is not None and folder.is_dir():
                options.append((_version_key(entry.version), 0, ResolvedModel(folder, "bundled", model_id, entry.version, entry)))
    if options:  # the newest usable copy; an incomplete newer one is skipped with a warning naming it
        return pick_copy(options)
    raise ModelNotFoundError(_not_found_message(spec, model_id, version, registry, home))


def _known(registry: Registry) -> str:
    ids = registry.ids()
    if ids:
        return "known ids: " + ", ".join(ids)
    if registry.path is None:
        return f"no models.json was found; set ${REGISTRY_ENV} to the registry file"
    return f"{registry.path} lists no models"


def _not_found_message(spec: str, model_id: str, version: Optional[str], registry: Registry, home) -> str:
    entry = registry.get(model_id, version)
    cache = Path(home if home is not None else models_home()) / model_id
    if entry is None:
        other = registry.get(model_id)
        if other is not None:
            return f"model {model_id!r} has no version {version!r} in {registry.path}; available: {other.version}."
        lower = model_id.lower()
        hint = (f" Ids are lower case: did you mean {lower + ('@' + version if version else '')!r}?"
                if lower != model_id and (registry.get(lower) is not None or installed_versions(lower, home)) else "")
        return (f"unknown model {spec!r}: not a folder and not in the registry ({_known(registry)}). Pass a model folder "
                f"path.{hint}")
    label = f"model {entry.id!r} version {entry.version}"
    if entry.path:
        where = registry.bundled_folder(entry)
        text = f"{label} is not installed: its bundled folder {where} does not exist (and nothing is in {cache})."
    else:
        size = f" ({entry.size_bytes / 1e6:.0f} MB)" if entry.size_bytes else ""
        text = (
            f"{label} is not installed. SDSeg never downloads by itself: fetch {entry.url}{size}, check its sha256 is "
            f"{entry.sha256}, then run 'sdseg models import <file.zip>'."
        )
    return text + (f" {entry.obtain}" if entry.obtain else "")
