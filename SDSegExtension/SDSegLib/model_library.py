"""The models the panel offers, and the model-management actions behind its buttons (no Slicer, no Qt).

The model list holds, in this order:

1. every model of the registry (``Resources/models.json``), by id;
2. models imported into the user cache :func:`SDSegLogic.registry.models_home` that the
   registry does not list, by id (the engine resolves an id to the newest cached version);
3. model folders the user chose recently (by path), while they still look like model folders.

A model saved in a scene that is in none of these (a folder chosen on another computer, a model
that was removed) is described by :func:`describe_model` and added to the list, marked
"(not found)" when it does not resolve. The panel's buttons call :func:`import_model_zip`,
:func:`check_model_folder` and :func:`models_folder`; the file dialogs stay in ``SDSeg.py``.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from SDSegLogic.errors import CheckpointError, ModelCardError, SDSegError

__all__ = ["ModelChoice", "RECENT_FOLDERS", "looks_like_model_folder", "cached_models", "describe_model", "list_models",
           "remember_folder", "check_model_folder", "zip_model_identity", "import_model_zip", "models_folder",
           "model_files_signature", "UNREADABLE"]

RECENT_FOLDERS = 5
"""How many recently used model folders the list remembers."""

PathLike = Union[str, Path]


@dataclass(frozen=True)
class ModelChoice:
    """One item of the model list.

    Attributes:
        spec: what the engine is given (``--model``): a registry id, ``id@version`` or a folder path.
        text: the combo-box text.
        source: ``"registry"``, ``"cache"``, ``"folder"`` or ``"missing"``.
        tooltip: the folder or what is wrong.
    """

    spec: str
    text: str
    source: str
    tooltip: str = ""

    @property
    def found(self) -> bool:
        return self.source != "missing"

    @property
    def unreadable(self) -> bool:
        """Present here but cannot be read (no permission, a share gone): :attr:`tooltip` says why and what to do."""
        return self.source == "missing" and self.text.endswith(UNREADABLE)


UNREADABLE = " (cannot be read)"
"""The end of a list item's text for a model whose folder cannot be read."""


def _unreadable_choice(spec: str, name: str, folder: PathLike, exc: OSError) -> ModelChoice:
    """The list item of a model whose folder ``folder`` (or one in it) raised ``exc`` when read."""
    where = exc.filename or folder
    return ModelChoice(spec, f"{name}{UNREADABLE}", "missing", f"{where} cannot be read ({exc.strerror or exc}); give your "
                       "user read access to it, or import the model again with Import model zip.")


def looks_like_model_folder(folder: PathLike) -> bool:
    """Cheap check (no hashing): ``config.json``, ``model_card.json`` and a ``*.safetensors`` file."""
    path = Path(folder)
    try:
        return ((path / "config.json").is_file() and (path / "model_card.json").is_file()
                and any(path.glob("*.safetensors")))
    except OSError:
        return False


def _missing_files(folder: Path) -> str:
    """What :func:`looks_like_model_folder` misses in ``folder``, as a phrase."""
    try:
        missing = [name for name in ("config.json", "model_card.json") if not (folder / name).is_file()]
        missing += [] if any(folder.glob("*.safetensors")) else ["*.safetensors weights"]
    except OSError as exc:
        return f"cannot be read ({exc})"
    return "no " + ", ".join(missing) if missing else "cannot be read"


def _card(folder: Path) -> dict:
    try:
        card = json.loads((folder / "model_card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def cached_models(registry: Any, home: Optional[PathLike] = None,
                  on_skip: Optional[Callable[[str], None]] = None) -> List[ModelChoice]:
    """Models imported into the cache (``<home>/<id>/<version>/``) that the registry does not list, one per id.

    What cannot be read does not stop the list (e.g. a shared models folder, or another user's model
    folder in it, without read permission): a model folder that cannot be read is listed as
    ``"<id> (cannot be read)"`` (``source="missing"``, the tooltip says why and what to do), and a
    models folder that cannot be listed gives no item and ``on_skip(sentence)`` naming it.
    """
    from SDSegLogic.registry import installed_versions, models_home

    root = Path(home) if home is not None else models_home()
    try:
        folders = sorted(root.iterdir()) if root.is_dir() else []
    except OSError as exc:
        if on_skip is not None:
            on_skip(f"The models folder {root} cannot be read ({exc.strerror or exc}): the models imported there are not "
                    "listed. Give your user read access to it, or set $SDSEG_HOME to a folder of your own.")
        return []
    listed = set(registry.ids())
    choices = []
    for folder in folders:
        try:
            if folder.name in listed or not folder.is_dir():
                continue
            versions = installed_versions(folder.name, root)
            usable = [v for v in versions if looks_like_model_folder(folder / v)]
        except OSError as exc:  # another user's folder, a share that went away: the other models are still listed
            choices.append(_unreadable_choice(folder.name, folder.name, folder, exc))
            continue
        if usable and usable[-1] != versions[-1]:  # the newest is not usable: the engine loads the newest usable one
            choices.append(describe_model(folder.name, registry, root))
        elif usable:
            newest = versions[-1]
            choices.append(ModelChoice(folder.name, f"{folder.name} (v{newest}, imported)", "cache", str(folder / newest)))
    return choices


def _folder_choice(folder: Path) -> ModelChoice:
    card = _card(folder)
    what = f"{card.get('model_id')} v{card.get('version')}: " if card.get("model_id") else ""
    return ModelChoice(str(folder), f"{folder.name} (folder)", "folder", f"{what}{folder}")


def describe_model(spec: str, registry: Any, home: Optional[PathLike] = None) -> ModelChoice:
    """The list item for any model spec (registry id, ``id@version`` or folder), resolved now.

    A spec that does not resolve gets ``source="missing"`` and "(not found)" in its text; so does a
    folder (or the copy an id resolves to) without a model's files, "(not a usable model folder)", and one
    that this user cannot read, with "(cannot be read)" (the tooltip names the error and the remedy).
    """
    from SDSegLogic.registry import resolve_model

    entry = registry.get(spec)
    try:
        resolved = resolve_model(spec, registry=registry, home=home)
    except (SDSegError, OSError) as exc:  # OSError: a models folder on a share that cannot be listed
        if entry is not None:  # listed, not installed: the card label says how to get it
            return ModelChoice(spec, f"{entry.title} (v{entry.version})", "registry", entry.description)
        name = Path(spec).name if ("/" in spec or "\\" in spec) else spec
        if isinstance(exc, OSError) and not isinstance(exc, (SDSegError, FileNotFoundError)):  # there, not readable here
            return _unreadable_choice(spec, name, spec, exc)
        return ModelChoice(spec, f"{name} (not found)", "missing", str(exc))
    if resolved.source != "folder" and not looks_like_model_folder(resolved.folder):  # e.g. a copy interrupted: the
        name = entry.title if entry is not None else resolved.model_id  # engine would only die loading it
        return ModelChoice(spec, f"{name} (v{resolved.version}, not a usable model folder)", "missing",
                           f"{resolved.folder}: {_missing_files(Path(resolved.folder))}; this copy is the one loaded: "
                           "remove that folder, or import the model again with Import model zip.")
    if entry is not None:  # the engine loads the newest copy: one imported may be newer than the registry's
        if resolved.version == entry.version:
            return ModelChoice(spec, f"{entry.title} (v{entry.version})", "registry", entry.description)
        return ModelChoice(spec, f"{entry.title} (v{resolved.version}, imported)", "registry",
                           f"v{resolved.version} in {resolved.folder} is used (the registry lists v{entry.version}). "
                           f"{entry.description}")
    if resolved.source == "folder":
        folder = Path(resolved.folder)
        if not looks_like_model_folder(folder):  # emptied, half-synced, unreadable: an engine would only die on it
            return ModelChoice(spec, f"{folder.name} (not a usable model folder)", "missing",
                               f"{folder}: {_missing_files(folder)}; copy the model back there, or choose it again "
                               "with Use model folder or Import model zip.")
        return _folder_choice(folder)
    how = "imported" if resolved.source == "cache" else resolved.source
    return ModelChoice(spec, f"{resolved.model_id} (v{resolved.version}, {how})", resolved.source, str(resolved.folder))


def list_models(registry: Any, recent_folders: Sequence[str] = (), home: Optional[PathLike] = None,
                on_skip: Optional[Callable[[str], None]] = None) -> List[ModelChoice]:
    """Registry models, then models imported into the cache, then recent folders that still exist.

    ``on_skip(sentence)``: told when the models folder cannot be listed (:func:`cached_models`).
    """
    choices = [describe_model(model_id, registry, home) for model_id in registry.ids()]
    choices += cached_models(registry, home, on_skip)
    for folder in recent_folders:
        if looks_like_model_folder(folder) and all(c.spec != str(folder) for c in choices):
            choices.append(_folder_choice(Path(folder)))
    texts = Counter(c.text for c in choices)  # two folders of one name (e.g. two copies of a model): told apart
    return [replace(c, text=f"{Path(c.spec).name} (folder in {Path(c.spec).parent})")
            if c.source == "folder" and texts[c.text] > 1 else c for c in choices]


def remember_folder(recent: Sequence[str], folder: PathLike, limit: int = RECENT_FOLDERS) -> List[str]:
    """``recent`` with ``folder`` moved to the front, at most ``limit`` entries."""
    text = str(folder)
    return ([text] + [str(f) for f in recent if str(f) != text])[:limit]


def check_model_folder(folder: PathLike) -> str:
    """Verify a model folder (config, card, every weight file's sha256, tensor names and shapes) and return its spec.

    As ``sdseg models verify``: a ``config.json`` edited after export keeps every sha256 valid, so the
    weight files' safetensors headers are compared with it too (:func:`SDSegLogic.weight_shapes.
    check_folder_shapes`; imports torch: call it off the GUI thread).

    Returns:
        The folder's absolute path, the model spec.

    Raises:
        CheckpointError: not a folder, or the problems :func:`SDSegLogic.model_folder.verify_model_folder` found.
        WeightsMismatchError: a tensor missing, unexpected, of another shape than ``config.json`` makes it,
            or stored as an integer type (the message names the file and the tensor).
    """
    from SDSegLogic.model_folder import verify_model_folder
    from SDSegLogic.weight_shapes import check_folder_shapes

    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such folder; choose a folder with config.json, model_card.json and *.safetensors.")
    problems = verify_model_folder(path)
    if problems:
        raise CheckpointError(f"{path} is not a usable model folder: " + " ".join(problems))
    try:
        check_folder_shapes(path, outcome="The folder is not used; the model selected before stays.")
    except CheckpointError as exc:  # WeightsMismatchError keeps its type; the message says which folder
        raise type(exc)(f"{path} is not a usable model folder: {exc}") from exc
    return str(path)


def zip_model_identity(zip_path: PathLike) -> Optional[Tuple[str, str]]:
    """(model id, version) from the model card inside a model zip, or None when it cannot be read.

    Only a peek, to ask before replacing an installed copy; :func:`SDSegLogic.model_zip.import_zip`
    checks the archive properly.
    """
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = [n for n in archive.namelist() if n == "model_card.json"
                     or (n.count("/") == 1 and n.endswith("/model_card.json") and not n.startswith("__MACOSX/"))]
            if len(names) != 1 or archive.getinfo(names[0]).file_size > 1 << 20:
                return None
            card = json.loads(archive.read(names[0]).decode("utf-8"))
        return str(card["model_id"]), str(card["version"])
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, TypeError):
        return None


def _spec_for(model_id: str, version: str, folder: Path, registry: Any, home: Path) -> str:
    """The id when it resolves to ``folder`` (the newest copy), else ``id@version``."""
    from SDSegLogic.registry import resolve_model

    try:
        if Path(resolve_model(model_id, registry=registry, home=home).folder).resolve() == folder.resolve():
            return model_id
    except SDSegError:
        pass
    return f"{model_id}@{version}"


def _without_ctrl_c_hint(on_wait: Callable[[str], None]) -> Callable[[str], None]:
    """``on_wait`` given the lock's wait sentence without its "(Ctrl-C to stop waiting)" hint."""
    from SDSegLogic.model_cache_lock import wait_text

    return lambda sentence: on_wait(wait_text(sentence, ctrl_c_hint=False))


def import_model_zip(zip_path: PathLike, registry: Any, home: Optional[PathLike] = None,
                     confirm_replace: Optional[Callable[[str], bool]] = None,
                     on_wait: Optional[Callable[[str], None]] = None,
                     cancelled: Optional[Callable[[], bool]] = None) -> Tuple[str, str]:
    """Install a model zip into the cache with :func:`SDSegLogic.model_zip.import_zip`.

    Args:
        zip_path: the zip the user downloaded or exported.
        registry: the model registry (its sha256 of the zip is checked when it lists the model).
        home: cache root, default :func:`SDSegLogic.registry.models_home`.
        confirm_replace: asked with a question when this id and version is already installed (also
            under a version that differs only in letter case, which is the same version:
            :func:`SDSegLogic.model_names.same_version`), also when the import this one waited for
            installed it meanwhile; True replaces it, False (or no callable) keeps the installed copy.
        on_wait: called once with a sentence naming the other import (its process, zip and start
            time) when another import of this model runs and this one waits for it to finish (without
            the terminal's "Ctrl-C to stop waiting" hint, which stops nothing in Slicer).
        cancelled: asked when the import reaches the model's lock and polled while it waits for another
            import (e.g. the panel's Cancel); true then, the import ends with CancelledError and nothing is
            installed (:mod:`SDSegLib.import_cancel`). Once the import holds the model's lock it is not stopped.

    Returns:
        (spec to select, a sentence for the status log).

    Raises:
        SDSegError: the zip is missing, unreadable, unsafe or holds a broken model (nothing is
            left in the cache); CancelledError: ``cancelled()`` before the import held the model's lock.
    """
    from .import_cancel import import_zip_cancellable

    if on_wait is not None:  # Ctrl-C stops nothing in Slicer: the sentence without the lock's Ctrl-C hint
        on_wait = _without_ctrl_c_hint(on_wait)
    root = _cache_root(home)
    identity = zip_model_identity(zip_path)
    existing = _installed(identity, root)
    if existing is not None and not _replace(identity, existing, zip_path, confirm_replace):
        return _kept(identity, existing, registry, root)
    force = existing is not None
    try:
        resolved = import_zip_cancellable(zip_path, cancelled, registry=registry, home=root, force=force, on_wait=on_wait)
    except CheckpointError:
        existing = None if force else _installed(identity, root)
        if existing is None:
            raise
        # installed meanwhile, by the import this one waited for: asked as any installed copy, not "--force"
        if not _replace(identity, existing, zip_path, confirm_replace):
            return _kept(identity, existing, registry, root)
        force, resolved = True, import_zip_cancellable(zip_path, cancelled, registry=registry, home=root, force=True,
                                                       on_wait=on_wait)
    folder = Path(resolved.folder)
    spec = _spec_for(str(resolved.model_id), str(resolved.version), folder, registry, root)
    verb = "Replaced" if force else "Imported"
    return spec, f"{verb} {resolved.model_id} {resolved.version} into {folder}."


def _cache_root(home: Optional[PathLike]) -> Path:
    """``home``, or the user's model cache :func:`SDSegLogic.registry.models_home`."""
    from SDSegLogic.registry import models_home

    return Path(home) if home is not None else models_home()


def _installed(identity: Optional[Tuple[str, str]], root: Path) -> Optional[Path]:
    """The installed folder of (id, version), in any letter case of the version; None if none (or not folder-safe)."""
    from SDSegLogic.registry import cache_folder, installed_folder

    if identity is None:
        return None
    try:
        cache_folder(*identity, root)  # refuses an id or version that is not folder-safe
        return installed_folder(*identity, root)
    except ModelCardError:
        return None  # import_zip explains what is wrong with the card


def _replace(identity: Tuple[str, str], existing: Path, zip_path: PathLike,
             confirm_replace: Optional[Callable[[str], bool]]) -> bool:
    """Whether the user lets the zip replace the installed copy in ``existing``."""
    question = f"{identity[0]} {identity[1]} is already installed in {existing}. Replace it with the model in {zip_path}?"
    return confirm_replace is not None and bool(confirm_replace(question))


def _kept(identity: Tuple[str, str], existing: Path, registry: Any, root: Path) -> Tuple[str, str]:
    """(spec, status sentence) when the installed copy is kept."""
    spec = _spec_for(identity[0], identity[1], existing, registry, root)
    return spec, f"{identity[0]} {identity[1]} is already installed in {existing}; the installed copy is kept."


def model_files_signature(spec: str, registry: Any = None) -> Tuple[Any, ...]:
    """What a local engine started now for ``spec`` would load: its folder and the files' size, mtime and inode.

    A warm engine keeps the weights it loaded; comparing this before each job tells when they
    changed under it (a zip imported over the same id and version, a newer version of the id
    imported, new files copied into a model folder), so that the engine is restarted.

    Args:
        spec: registry id, ``id@version`` or model folder.
        registry: the registry the spec is resolved with (the Slicer logic's, read once: a registry
            file that became unreadable, or a registry given to the logic, still resolves it);
            None: :meth:`Registry.load` now.

    Returns:
        ``(folder, ((name, size, mtime_ns, inode), ...))`` of ``config.json``, ``model_card.json``
        and the ``*.safetensors`` files; ``()`` when the spec does not resolve here (the engine
        explains that when it starts).
    """
    from SDSegLogic.registry import resolve_model

    try:
        folder = Path(resolve_model(spec, registry=registry).folder).resolve()
        files = sorted([folder / "config.json", folder / "model_card.json", *folder.glob("*.safetensors")])
        return (str(folder), tuple((f.name, st.st_size, st.st_mtime_ns, st.st_ino) for f in files for st in [f.stat()]))
    except (SDSegError, OSError, ValueError):
        return ()


def models_folder(home: Optional[PathLike] = None) -> Path:
    """The user's model cache folder, created if missing (what "Open models folder" shows)."""
    from SDSegLogic.registry import models_home

    folder = Path(home) if home is not None else models_home()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
