"""The model side of :class:`~SDSegLib.module_logic.SDSegModuleLogic`: list, import, cards, summaries (no ``slicer``).

:class:`ModelCatalogMixin` is a base class of ``SDSegModuleLogic`` (split out of ``module_logic.py``,
which runs segmentations). What it tells about a model always describes the files a local engine
started now would load:

* a registry id resolves to its newest installed copy (``SDSegLogic.registry.resolve_model``), which
  may be a newer version imported into the user's model folder than the one the registry lists: the
  card label then shows that copy's card, not the registry entry;
* model cards are read from disk once and read again when the card file changed (another file, size
  or modification time: a model exported over the old folder, a newer version imported with the
  ``sdseg`` command line), as the engine runner restarts a warm engine whose files changed.

The host class provides ``_enqueue(text)`` (the module's log) and sets ``_cards = {}`` and
``_registry = None`` in its ``__init__``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from SDSegLogic.errors import CheckpointError, SDSegError

from .model_info import card_summary_entry, missing_model_html, model_summary_html, model_tooltip, time_estimate_text
from .model_library import ModelChoice, check_model_folder, describe_model, import_model_zip, list_models, models_folder

__all__ = ["ModelCatalogMixin", "DEFAULT_MODEL"]

DEFAULT_MODEL = "sdseg-demo-ct-lite"

CardStamp = Tuple[str, int, int, int, int]
"""(model_card.json path, mtime_ns, ctime_ns, size, inode): what tells that a card file changed."""


class ModelCatalogMixin:
    """The model list, model import, and what the panel shows about a model (cards read fresh from disk)."""

    _cards: Dict[str, Tuple[CardStamp, Dict[str, Any]]]
    _registry: Any

    def registry(self) -> Any:
        """The model registry (``Resources/models.json``), read once."""
        from SDSegLogic.registry import Registry

        if self._registry is None:
            self._registry = Registry.load()
        return self._registry

    def _registryOrEmpty(self) -> Any:
        from SDSegLogic.registry import Registry

        try:
            return self.registry()
        except SDSegError as exc:
            self._enqueue(f"Model registry unreadable: {exc}")
            self._registry = Registry()  # said once; models folder and model folders still work
            return self._registry

    def modelChoices(self, recentFolders: Sequence[str] = ()) -> List[ModelChoice]:
        """The model list: registry models, models imported into :meth:`modelsFolder`, then ``recentFolders``."""
        registry = self._registryOrEmpty()
        return list_models(registry, recentFolders, on_skip=self._sayOnce) or [describe_model(DEFAULT_MODEL, registry)]

    def _sayOnce(self, text: str) -> None:
        """Put ``text`` in the log the first time it comes (the list is filled again on every scene and import)."""
        said = self.__dict__.setdefault("_saidOnce", set())
        if text not in said:
            said.add(text)
            self._enqueue(text)

    def availableModels(self, recentFolders: Sequence[str] = ()) -> List[Tuple[str, str]]:
        """(model spec, title) of every model of :meth:`modelChoices`."""
        return [(choice.spec, choice.text) for choice in self.modelChoices(recentFolders)]

    def describeModel(self, model: str) -> ModelChoice:
        """The list item of any model spec (e.g. one saved in a scene); "(not found)" when it does not resolve."""
        return describe_model(model, self._registryOrEmpty())

    def checkModelAvailable(self, model: str, remoteUrl: str = "") -> None:
        """Refuse a model a local engine could not load (as the panel disables Segment for it), before an engine starts.

        Without this a script's run with a mistyped id or a moved folder started an engine, which
        died while loading it seconds later with its log as the error. A remote engine brings its
        own models: nothing is checked then.

        Raises:
            CheckpointError: ``model`` is "(not found)" or "(not a usable model folder)" here
                (:meth:`describeModel`), or listed by the registry but not installed; the message
                says why and how to add it.
        """
        from SDSegLogic.registry import resolve_model

        if str(remoteUrl or "").strip():
            return
        choice = self.describeModel(str(model))
        reason = "" if choice.found else choice.tooltip
        if not reason:  # a registry model that is listed but not installed is "found" in the list, yet cannot load
            try:
                resolve_model(str(model), registry=self._registryOrEmpty())
            except (SDSegError, OSError) as exc:
                reason = str(exc)
        if reason:
            raise CheckpointError(
                f"the model {str(model)!r} is not available on this computer: {reason.rstrip('.')}. Add it with "
                "importModelZip(zipPath) or useModelFolder(folder) (or pass a model folder as model); availableModels() "
                "lists the models here. Nothing was started.")

    def modelsFolder(self) -> Path:
        """The user's model folder (``$SDSEG_HOME/models`` or ``~/.sdseg/models``), created if missing."""
        return models_folder()

    def importModelZip(self, zipPath: str, confirmReplace: Optional[Callable[[str], bool]] = None,
                       onWait: Optional[Callable[[str], None]] = None, cancelled: Optional[Callable[[], bool]] = None) -> str:
        """Install a model zip into :meth:`modelsFolder` (checked, atomic) and return the spec to select.

        ``confirmReplace(question)`` is asked when the same id and version is already installed
        (no callable: the installed copy is kept). When another import of the same model runs (another
        Slicer, ``sdseg models import``), this one waits for it: the sentence naming it goes to the
        log and to ``onWait(sentence)`` (called from the importing thread); ``cancelled()`` true
        during that wait ends it (CancelledError, nothing installed). Raises SDSegError when the
        zip is refused.
        """
        def waiting(sentence: str) -> None:
            self._enqueue(sentence)
            if onWait is not None:
                onWait(sentence)

        spec, message = import_model_zip(zipPath, self._registryOrEmpty(), confirm_replace=confirmReplace, on_wait=waiting,
                                         cancelled=cancelled)
        self._cards.pop(spec, None)
        self._enqueue(message)
        return spec

    def useModelFolder(self, folder: str) -> str:
        """Verify a model folder (config, card, weight sha256) and return its spec; raises CheckpointError if unusable."""
        spec = check_model_folder(folder)
        self._cards.pop(spec, None)
        return spec

    def modelCard(self, model: str) -> Dict[str, Any]:
        """The model card (dict) of a registry id or folder, read from disk without loading torch.

        Resolved with this logic's registry (:meth:`_registryOrEmpty`), as the model list and the card label are.

        Raises:
            ModelNotFoundError: ``model`` does not resolve here; OSError, ValueError: its card cannot be read.
        """
        from SDSegLogic.registry import resolve_model

        folder = Path(resolve_model(model, registry=self._registryOrEmpty()).folder)
        return json.loads((folder / "model_card.json").read_text(encoding="utf-8"))

    def _resolved(self, model: str) -> Any:
        """``resolve_model(model)`` against this logic's registry, or None when it does not resolve here."""
        from SDSegLogic.registry import resolve_model

        try:
            return resolve_model(model, registry=self._registryOrEmpty())
        except (SDSegError, OSError):
            return None

    def _cachedCard(self, model: str) -> Dict[str, Any]:
        """The model card of the copy ``model`` resolves to now, or ``{}`` when none is readable here (e.g. a remote engine's).

        Read again when its file changed since it was read (:data:`CardStamp`); a model that no
        longer resolves, or whose card cannot be read, gives ``{}`` (nothing stale is shown).
        """
        resolved = self._resolved(model)
        try:
            path = Path(resolved.folder) / "model_card.json"
            st = path.stat()
        except (AttributeError, OSError):  # AttributeError: not resolved (None)
            self._cards.pop(model, None)
            return {}
        stamp = (str(path), st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        cached = self._cards.get(model)
        if cached is None or cached[0] != stamp:
            try:
                card = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._cards.pop(model, None)
                return {}
            if not isinstance(card, dict):
                return {}
            self._cards[model] = cached = (stamp, card)
        return cached[1]

    def _entryInUse(self, model: str) -> Any:
        """The registry entry of ``model`` when it describes the copy that would be loaded, else None.

        None also when the registry does not list ``model``, and when a newer (or other) version
        imported into the model folder is the one ``model`` resolves to: its card tells then.
        """
        entry = self._registryOrEmpty().get(model)
        resolved = self._resolved(model) if entry is not None else None
        if entry is not None and resolved is not None and resolved.version not in (None, entry.version):
            return None
        return entry

    def modelOrientation(self, model: str) -> str:
        """The orientation code the model's slices were cut in (``"LPS"``, axial, when unknown)."""
        return str(self._cachedCard(model).get("orientation") or "LPS")

    def modelSummary(self, model: str) -> str:
        """Rich text for the model card label: task, modality, classes, version, intended use (of the copy in use)."""
        registry = self._registryOrEmpty()
        card = self._cachedCard(model)
        intended = str(card.get("intended_use") or "")
        entry = self._entryInUse(model)
        if entry is None:
            choice = describe_model(model, registry)
            if not choice.found:
                return missing_model_html(model, choice.tooltip, "cannot be read" if choice.unreadable else "not found")
            resolved = self._resolved(model)
            installed = resolved.source if resolved is not None else choice.source
            return model_summary_html(card_summary_entry(card), installed, intended)
        resolved = self._resolved(model)
        return model_summary_html(entry, resolved.source if resolved is not None else "", intended)

    def modelToolTip(self, model: str) -> str:
        """Tooltip of the model card label: the card's full intended use and the registry description."""
        entry = self._entryInUse(model)
        card = self._cachedCard(model)
        return model_tooltip(str(card.get("intended_use") or ""),
                             getattr(entry, "description", "") or str(card.get("description") or ""))

    def timeEstimate(self, model: str, device: str, numSlices: int, samples: int = 1, steps: int = 1,
                     timePoints: int = 1) -> str:
        """Run-time estimate from the registry's CPU timing (``""`` when the model has none); ``timePoints``
        of ``numSlices`` each when all time points of a sequence are segmented."""
        try:
            entry = self.registry().get(model)
        except SDSegError:
            return ""
        perSlice = entry.seconds_per_slice("cpu") if entry is not None else None
        return time_estimate_text(perSlice, int(numSlices), device, samples, steps, int(timePoints))
