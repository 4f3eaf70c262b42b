"""What the module panel shows for the current parameters (needs Slicer's ``slicer.i18n``).

Called by ``SDSegWidget._updateState`` on every parameter change: which options are disabled
because they would be ignored, which axis the slice numbers count along, the run-time estimate,
and the quality-warning line after a run. ``ui`` is the widget's ``self.ui`` (PythonQt widgets).
"""

from __future__ import annotations

import html
from typing import Any, Sequence

from slicer.i18n import tr as _

from SDSegLogic.errors import SDSegError

from .model_info import warnings_html

__all__ = ["update_segment_button", "update_option_states", "update_slices_and_estimate", "show_warnings"]


def update_segment_button(ui: Any, running: bool, has_input: bool, missing_model: Any = None) -> None:
    """Segment (or Cancel while running): enabled only with an input volume and a model that exists here.

    Args:
        ui: the widget's ui.
        running: a run is going on (the button is Cancel then, always enabled).
        has_input: an input volume is selected.
        missing_model: the :class:`SDSegLib.model_library.ModelChoice` of the selected model when it
            is "(not found)" on this computer and no remote engine is set, else None.
    """
    button = ui.segmentButton
    button.text = _("Cancel") if running else _("Segment")
    button.enabled = running or (has_input and missing_model is None)
    if running:
        button.toolTip = _("Stop the running segmentation")
    elif missing_model is not None:
        button.toolTip = _("The model '{name}' is missing on this computer: {reason} Add it with 'Import model zip' "
                           "or 'Use model folder' (next to the model list), or choose another model.").format(
            name=missing_model.text.replace(" (not found)", ""), reason=missing_model.tooltip.rstrip(".") + ".")
    else:
        button.toolTip = _("Segment the input with the selected model") if has_input else _("Select an input volume first")


def update_option_states(ui: Any, p: Any) -> None:
    """Disable what would be ignored: slice numbers under an ROI, the variance map with 1 sample."""
    roi = p.roiNode is not None
    ui.firstSliceSpinBox.enabled = not roi
    ui.lastSliceSpinBox.enabled = not roi
    variance = p.samples > 1
    ui.uncertaintyVolumeSelector.enabled = variance
    ui.uncertaintyVolumeSelector.toolTip = (
        _("Optional: per-voxel variance over the samples.") if variance else
        _("Needs 2 or more samples: with 1 sample there is no variance. Raise 'Samples' in Options to enable it."))


def update_slices_and_estimate(ui: Any, logic: Any, p: Any, engine_device: str = "") -> None:
    """Name the axis the slice numbers count along (k only for volumes stored in the model's plane) and estimate the time.

    Args:
        ui, logic, p: the widget's ui, SDSegModuleLogic and parameter node.
        engine_device: ``"cpu"``/``"cuda"`` as the engine last reported it, for device ``auto``.
    """
    if not p.inputVolume:
        ui.slicesLabel.text = _("Slices:")
        ui.estimateLabel.text = ""
        return
    try:
        sel = logic.sliceSelection(p.inputVolume, p.modelId, p.roiNode, p.firstSlice, p.lastSlice)
    except SDSegError as exc:
        ui.estimateLabel.text = "<span style='color:#b00000'>{}</span>".format(html.escape(str(exc)))
        return
    ui.slicesLabel.text = _("Slices ({axis}):").format(axis=sel.letter)
    where = _("counted along the volume's {axis} axis: the model cuts {plane} slices, {count} of them (0..{last})").format(
        axis=sel.letter, plane=sel.plane, count=sel.count, last=sel.count - 1)
    override = _("The selected region sets the slices.") if p.roiNode is not None else _("Ignored when a region is selected.")
    ui.firstSliceSpinBox.toolTip = _("First slice to segment, {where}. {override}").format(where=where, override=override)
    ui.lastSliceSpinBox.toolTip = _("Last slice (inclusive), {where}. {override}").format(where=where, override=override)
    device = p.device if p.device != "auto" else (engine_device or "auto")
    ui.estimateLabel.text = logic.timeEstimate(p.modelId, device, sel.size, p.samples, p.steps)


def show_warnings(ui: Any, warnings: Sequence[str]) -> None:
    """The run's quality warnings in the orange status line (hidden when there are none)."""
    ui.warningLabel.text = warnings_html(warnings)
    ui.warningLabel.toolTip = "\n".join(warnings)
    ui.warningLabel.visible = bool(warnings)
