"""Text shown about a model in the module panel (pure Python: also used by the UI test)."""

from __future__ import annotations

import html
from typing import Any, List, Tuple

__all__ = ["model_choices", "model_summary_html"]


def model_choices(registry: Any, fallback: str) -> List[Tuple[str, str]]:
    """(model id, combo-box text) for every id in a :class:`SDSegLogic.registry.Registry`."""
    choices = []
    for model_id in registry.ids():
        entry = registry.get(model_id)
        choices.append((model_id, f"{entry.title} (v{entry.version})"))
    return choices or [(fallback, fallback)]


def model_summary_html(entry: Any, installed: str) -> str:
    """Rich text for the model card label: task, modality, version, install state, classes.

    Args:
        entry: a registry entry (``task``, ``modality``, ``version``, ``classes``, ``license``).
        installed: ``"bundled"``, ``"cache"``, ``"folder"``, or ``""`` when not installed.
    """
    esc = html.escape
    state = (f"<span style='color:#2a7a2a'>installed ({esc(installed)})</span>" if installed
             else "<span style='color:#b00000'>not installed - see the README for the model zip</span>")
    classes = ", ".join(esc(c) for c in entry.classes)
    return (f"<b>{esc(entry.task)}</b><br>{esc(entry.modality)} &middot; v{esc(entry.version)} &middot; "
            f"{esc(entry.license)} &middot; {state}<br><span style='color:#555'>Classes: {classes}</span>")
