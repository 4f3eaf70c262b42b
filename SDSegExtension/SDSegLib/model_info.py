"""Text shown about a model and a run in the module panel (pure Python: also used by the UI test)."""

from __future__ import annotations

import html
import math
import types
from typing import Any, Dict, Optional, Sequence

__all__ = ["card_summary_entry", "model_summary_html", "missing_model_html", "model_tooltip", "short_text",
           "time_estimate_text", "warnings_html", "AMBER", "WARNING_ORANGE"]

AMBER = "#b36b00"
"""Colour of the intended-use line (a caution, not an error)."""

WARNING_ORANGE = "#c05a00"
"""Colour of the quality-warning status line after a run."""

INTENDED_USE_CHARS = 110
"""Characters of the intended use shown in the panel; the tooltip has all of it."""


def card_summary_entry(card: Dict[str, Any]) -> Any:
    """What :func:`model_summary_html` needs, from a model card (a model the registry does not list)."""
    classes = [str(c.get("name", "?")) if isinstance(c, dict) else str(c) for c in card.get("classes") or ()]
    return types.SimpleNamespace(task=str(card.get("task") or card.get("model_id") or "model"),
                                 modality=str(card.get("modality") or "?"), version=str(card.get("version") or "?"),
                                 license=str(card.get("license") or "unspecified"), classes=classes)


def missing_model_html(spec: str, reason: str, what: str = "not found") -> str:
    """Rich text for the model card label when the selected model cannot be found, or ``what`` else is wrong (red)."""
    return (f"<span style='color:#b00000'><b>{html.escape(spec)}</b>: {html.escape(what)}. {html.escape(reason)}</span><br>"
            "Use <i>Import model zip</i> or <i>Use model folder</i> to choose an installed model.")


def short_text(text: str, limit: int = INTENDED_USE_CHARS) -> str:
    """``text`` on one line, cut at a word boundary before ``limit`` characters, with an ellipsis."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "\u2026"


def model_summary_html(entry: Any, installed: str, intended_use: str = "") -> str:
    """Rich text for the model card label: task, modality, version, install state, classes, intended use.

    Args:
        entry: a registry entry (``task``, ``modality``, ``version``, ``classes``, ``license``).
        installed: ``"bundled"``, ``"cache"``, ``"folder"``, or ``""`` when not installed.
            ``entry`` may be :func:`card_summary_entry` of a model card.
        intended_use: the model card's ``intended_use`` (shortened here, amber; the label's
            tooltip, :func:`model_tooltip`, carries the whole text).
    """
    esc = html.escape
    state = (f"<span style='color:#2a7a2a'>installed ({esc(installed)})</span>" if installed
             else "<span style='color:#b00000'>not installed - get its zip (see the README), then "
                  "<i>Import model zip</i></span>")
    classes = ", ".join(esc(c) for c in entry.classes)
    text = (f"<b>{esc(entry.task)}</b><br>{esc(entry.modality)} &middot; v{esc(entry.version)} &middot; "
            f"{esc(entry.license)} &middot; {state}<br><span style='color:#555'>Classes: {classes}</span>")
    if intended_use.strip():
        text += f"<br><span style='color:{AMBER}'>&#9888; Intended use: {esc(short_text(intended_use))}</span>"
    return text


def model_tooltip(intended_use: str = "", description: str = "") -> str:
    """Plain-text tooltip of the model card label: the full intended use, then the description."""
    parts = []
    if intended_use.strip():
        parts.append(f"Intended use: {intended_use.strip()}")
    if description.strip():
        parts.append(description.strip())
    return "\n\n".join(parts) or "Task, modality, classes and version from the model card."


def time_estimate_text(seconds_per_slice: Optional[float], num_slices: int, device: str, samples: int = 1,
                       steps: int = 1, time_points: int = 1) -> str:
    """A rough run-time estimate for the panel, calibrated only for the CPU.

    Args:
        seconds_per_slice: the registry's CPU timing prior (``RegistryEntry.seconds_per_slice("cpu")``),
            or None when the registry has none.
        num_slices: slices to segment.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (the engine picks; the GPU is not known yet).
        samples, steps: each sample and each DDIM step runs the network again (upper bound).
        time_points: time points segmented (all time points of a sequence), each of ``num_slices``.

    Returns:
        ``""`` when nothing sensible can be said.
    """
    if device == "cuda":
        return "Fast on the GPU."
    if not seconds_per_slice or num_slices < 1:
        return ""
    points = max(1, int(time_points))
    seconds = float(seconds_per_slice) * num_slices * max(1, int(samples)) * max(1, int(steps)) * points
    amount = "under 1 min" if seconds < 60 else f"about {math.ceil(seconds / 60)} min"
    slices = f"{num_slices} slice{'s' if num_slices != 1 else ''}"
    text = f"Estimate: {amount} for {f'{points} time points of {slices}' if points > 1 else slices} on CPU"
    return text + (" (much less if a GPU is found)." if device == "auto" else ".")


def warnings_html(warnings: Sequence[str]) -> str:
    """Orange rich text listing a run's quality warnings (empty string when there are none)."""
    if not warnings:
        return ""
    items = "<br>".join(f"&#9888; {html.escape(str(w))}" for w in warnings)
    return f"<span style='color:{WARNING_ORANGE}'><b>Check the result:</b><br>{items}</span>"
