"""The model combo box of the module panel and the recently used model folders (needs Slicer's ``qt``).

The list itself comes from :meth:`SDSegModuleLogic.modelChoices` (pure Python, see
:mod:`SDSegLib.model_library`); this file fills the combo box, keeps a selected model that is not
in the list (e.g. a folder saved in a scene on another computer) as an extra item instead of
replacing it, and stores the recent folders in the user's application settings (``qt.QSettings``:
Slicer's settings file), so they are offered again in the next Slicer session.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List

import qt

from .model_library import remember_folder

__all__ = ["RECENT_FOLDERS_KEY", "recent_model_folders", "remember_model_folder", "fill_model_combo"]

RECENT_FOLDERS_KEY = "SDSeg/RecentModelFolders"
"""Settings key of the recent model folders (a JSON list of paths, newest first)."""


def recent_model_folders() -> List[str]:
    """The recently used model folders from the application settings, newest first."""
    value = qt.QSettings().value(RECENT_FOLDERS_KEY)
    try:
        folders = json.loads(value) if isinstance(value, str) else list(value or [])
    except (TypeError, ValueError):
        return []
    return [str(f) for f in folders if isinstance(f, str) and f] if isinstance(folders, list) else []


def remember_model_folder(spec: str) -> None:
    """Put a model folder (an absolute path) first in the recent folders; a model id is ignored."""
    if Path(spec).is_absolute() and Path(spec).is_dir():
        qt.QSettings().setValue(RECENT_FOLDERS_KEY, json.dumps(remember_folder(recent_model_folders(), spec)))


def fill_model_combo(ui: Any, logic: Any, selected: str) -> None:
    """Refill ``ui.modelComboBox`` and select ``selected``, adding it when the list lacks it.

    No ``currentIndexChanged`` is emitted: the caller updates the parameter node and the card. What
    the logic said meanwhile (e.g. a models folder that cannot be read) goes to the status log.

    Args:
        ui: the widget's ``self.ui``.
        logic: the module's SDSegModuleLogic.
        selected: the model spec to select (the parameter node's ``modelId``).
    """
    combo = ui.modelComboBox
    choices = logic.modelChoices(recent_model_folders())
    if selected and all(choice.spec != selected for choice in choices):
        choices.append(logic.describeModel(selected))  # marked "(not found)" when it does not resolve
    blocked = combo.blockSignals(True)
    try:
        combo.clear()
        for index, choice in enumerate(choices):
            combo.addItem(choice.text, choice.spec)
            combo.setItemData(index, choice.tooltip or choice.spec, qt.Qt.ToolTipRole)
        combo.setCurrentIndex(max(0, combo.findData(selected)))
    finally:
        combo.blockSignals(blocked)
    for text in logic.drainLog():  # e.g. a models folder that cannot be read: said now, not at the next run
        ui.statusLog.appendPlainText(str(text))
