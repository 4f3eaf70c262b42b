"""What the module panel shows for the current parameters (needs Slicer's ``slicer.i18n``).

Called by ``SDSegWidget._updateState`` on every parameter change and when a run starts or ends:
which controls are locked because a run is going on (:data:`RUN_CONTROLS`), which options are
disabled because they would be ignored, which axis the slice numbers count along, the run-time
estimate, and the quality-warning line after a run. ``ui`` is the widget's ``self.ui`` (PythonQt widgets).
"""

from __future__ import annotations

import html
import time
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

from slicer.i18n import tr as _

from SDSegLogic.errors import SDSegError

from .model_info import warnings_html
from .model_library import UNREADABLE
from .sequence_input import time_point_count

__all__ = ["RUN_CONTROLS", "NOTE_SEPARATOR", "lock_run_controls", "segment_button_state", "update_segment_button", "update_option_states",
           "update_slices_and_estimate", "show_warnings", "show_job_event", "show_engine_not_started", "removed_output_notes",
           "DoubleClickGuard", "run_map_volumes"]

RUN_CONTROLS = (
    # Inputs
    "inputVolumeSelector", "allTimePointsCheckBox", "modelComboBox", "importModelZipButton", "useModelFolderButton", "deviceComboBox",
    # Options
    "stepsSpinBox", "samplesSpinBox", "seedSpinBox", "roiSelector", "firstSliceSpinBox", "lastSliceSpinBox",
    # Outputs
    "outputSegmentationSelector", "probabilityVolumeSelector", "uncertaintyVolumeSelector",
    # Advanced
    "batchSizeSpinBox", "strictCheckBox", "fillNonFiniteCheckBox", "gpuKernelsComboBox", "remoteUrlLineEdit", "remoteTokenLineEdit",
)
"""Every control of ``Resources/UI/SDSeg.ui`` that changes what a run does, disabled while one is going on.

A change during a run would not reach it, yet the parameter node (saved with the scene) would then
disagree with what made the result, and a new model, device, GPU-kernels policy or remote engine
would restart the engine. What changes nothing stays usable: Cancel (the Segment button), the
section headers, Show 3D, Open models folder and Copy diagnostics. A control added to the .ui
that affects a run belongs here (``Testing/Python/test_slicer_run_lock.py`` finds any that is not).
"""


NOTE_SEPARATOR = "\n\u2014 "
"""Starts the line a disabled control's tooltip ends with to say why (:func:`lock_run_controls`); no .ui tooltip has it."""


def lock_run_controls(ui: Any, running: bool, busy: Optional[Mapping[str, str]] = None) -> None:
    """Disable every :data:`RUN_CONTROLS` widget while ``running``, and those in ``busy``; enable the others.

    A disabled widget's tooltip ends with a line (after :data:`NOTE_SEPARATOR`) saying why; the line
    goes when the widget is enabled again. Call :func:`update_option_states` after it when not
    running: it disables again what the current parameters make ignored (Qt has one ``enabled``
    flag per widget).

    Args:
        ui: the widget's ui.
        running: a run is going on (from Segment until its end, failure, cancel or scene close).
        busy: ``{widget name: why}`` of controls disabled for another reason (a model zip import
            or a model folder check going on).
    """
    locked = _("Locked while a segmentation runs: cancel it or wait for its end to change this.")
    for name in RUN_CONTROLS:
        widget = getattr(ui, name)
        why = locked if running else (busy or {}).get(name)
        widget.enabled = why is None
        tip = (widget.toolTip or "").split(NOTE_SEPARATOR)[0]  # without the line of an earlier lock
        widget.toolTip = tip + NOTE_SEPARATOR + why if why else tip


def segment_button_state(running: bool, has_input: bool, missing_model: Any = None,
                         range_problem: str = "") -> Tuple[str, bool, str]:
    """The one rule for the Segment button: (text, enabled, tooltip).

    Segment is enabled only with an input volume, a model that exists here and slice numbers or a
    region a run can segment; while a run goes on it reads Cancel, always enabled. The first reason
    in this order is the one the tooltip gives: the run, the model, the input, the slices.

    Args:
        running: a run is going on.
        has_input: an input volume is selected.
        missing_model: the :class:`SDSegLib.model_library.ModelChoice` of the selected model when it
            is "(not found)" on this computer, or "(cannot be read)" by this user, and no remote
            engine is set, else None.
        range_problem: why a run with the local engine would refuse the slice numbers or region
            (:func:`update_slices_and_estimate`), ``""`` when it would not (or a remote engine decides).
    """
    if running:
        return _("Cancel"), True, _("Stop the running segmentation")
    if missing_model is not None and getattr(missing_model, "unreadable", False):  # there, but not for this user
        return _("Segment"), False, _("The model '{name}' cannot be read: {reason} Or choose another model.").format(
            name=missing_model.text[:-len(UNREADABLE)], reason=missing_model.tooltip)
    if missing_model is not None:
        return _("Segment"), False, _(
            "The model '{name}' is missing on this computer: {reason} Add it with 'Import model zip' or 'Use model "
            "folder' (next to the model list), or choose another model.").format(
            name=missing_model.text.replace(" (not found)", "").replace(" (not a usable model folder)", ""),
            reason=missing_model.tooltip.rstrip(".") + ".")
    if not has_input:
        return _("Segment"), False, _("Select an input volume first")
    if range_problem:
        return _("Segment"), False, _("Segment cannot run: {reason} Change the slices or the region.").format(
            reason=range_problem)
    return _("Segment"), True, _("Segment the input with the selected model")


def _show_segment_button(ui: Any, state: Tuple[str, bool, str]) -> None:
    """Put a :func:`segment_button_state` on the panel's Segment button."""
    button = ui.segmentButton
    button.text, button.enabled, button.toolTip = state


def update_segment_button(ui: Any, running: bool, has_input: bool, missing_model: Any = None) -> None:
    """Segment (or Cancel while running) as :func:`segment_button_state` says, before the slices are checked.

    :func:`update_slices_and_estimate`, called after it, disables the button further when the slice
    numbers or region cannot be segmented (by the same rule).

    Args:
        ui: the widget's ui.
        running, has_input, missing_model: as for :func:`segment_button_state`.
    """
    _show_segment_button(ui, segment_button_state(running, has_input, missing_model))


def update_option_states(ui: Any, p: Any) -> None:
    """Disable what would be ignored: slice numbers under an ROI, the variance map with 1 sample.

    The "All time points (N)" checkbox is shown only when the input is the volume of a sequence
    (:func:`~SDSegLib.sequence_input.time_point_count`); when it is ticked, the maps (not written
    for sequences) are disabled.
    """
    roi = p.roiNode is not None
    ui.firstSliceSpinBox.enabled = not roi
    ui.lastSliceSpinBox.enabled = not roi
    points = time_point_count(p.inputVolume)
    ui.allTimePointsCheckBox.visible = points > 0
    ui.allTimePointsCheckBox.text = _("All time points ({count})").format(count=points)
    sequence = points > 0 and p.allTimePoints
    ui.probabilityVolumeSelector.enabled = not sequence
    ui.probabilityVolumeSelector.toolTip = (
        _("Not written when all time points are segmented.") if sequence else
        _("Optional: foreground probability (0..1) as a scalar volume on the input grid."))
    variance = p.samples > 1 and not sequence
    ui.uncertaintyVolumeSelector.enabled = variance
    ui.uncertaintyVolumeSelector.toolTip = (
        _("Optional: per-voxel variance over the samples.") if variance else
        _("Not written when all time points are segmented.") if sequence else
        _("Needs 2 or more samples: with 1 sample there is no variance. Raise 'Samples' in Options to enable it."))


def run_map_volumes(p: Any, sequence: bool) -> Tuple[Any, Any, List[str]]:
    """The probability and uncertainty volumes a run started from the panel writes, and what it leaves out.

    Only the maps whose selector :func:`update_option_states` enables: a map chosen before its
    selector was disabled ("All time points" ticked, samples lowered to 1) keeps its node in the
    parameter node, but is not written (and does not refuse the run).

    Args:
        p: the parameter node.
        sequence: every time point of a sequence is segmented (no maps are written then).

    Returns:
        (probability volume or None, uncertainty volume or None, one log line per map left out).
    """
    probability, uncertainty, notes = p.probabilityVolume, p.uncertaintyVolume, []
    if sequence and probability is not None:
        notes.append(_("The probability map '{name}' is not written: maps are not written when all time points are "
                       "segmented.").format(name=probability.GetName()))
        probability = None
    if uncertainty is not None and (sequence or p.samples <= 1):
        why = _("maps are not written when all time points are segmented") if sequence else _(
            "a variance needs 2 or more samples")
        notes.append(_("The uncertainty map '{name}' is not written: {why}.").format(name=uncertainty.GetName(), why=why))
        uncertainty = None
    return probability, uncertainty, notes


def update_slices_and_estimate(ui: Any, logic: Any, p: Any, engine_device: str = "") -> None:
    """Name the axis the slice numbers count along (k only for volumes stored in the model's plane) and estimate the time.

    When the slice numbers or region cannot be segmented (a first slice past the last one, a region
    outside the volume), the reason is shown in red and, for a local engine (whose Segment would
    refuse the run for that very reason), Segment is disabled with the reason as its tooltip. Call
    it after :func:`update_segment_button`, only while no run is going on.

    Args:
        ui, logic, p: the widget's ui, SDSegModuleLogic and parameter node.
        engine_device: ``"cpu"``/``"cuda"`` as the engine last reported it, for device ``auto``.
    """
    if not p.inputVolume:
        ui.slicesLabel.text = _("Slices:")
        ui.estimateLabel.text = ""
        return
    remote = ui.remoteUrlLineEdit.text.strip()  # a remote engine's model: its card as last seen (no network here)
    if remote and logic.remoteCard(remote) is None:
        ui.slicesLabel.text = _("Slices:")
        ui.firstSliceSpinBox.toolTip = ui.lastSliceSpinBox.toolTip = _(
            "Counted along the axis the remote engine's model slices the volume across: read from the engine when "
            "Segment is pressed with a slice range or region, and shown here after its first run.")
        ui.estimateLabel.text = ""
        return
    try:
        sel = logic.sliceSelection(p.inputVolume, p.modelId, p.roiNode, p.firstSlice, p.lastSlice, remoteUrl=remote)
    except SDSegError as exc:
        ui.estimateLabel.text = "<span style='color:#b00000'>{}</span>".format(html.escape(str(exc)))
        if not remote and ui.segmentButton.enabled:  # a remote engine's card, asked again at Segment, may differ
            # enabled by update_segment_button: no run, an input, the model here; the slices now decide
            _show_segment_button(ui, segment_button_state(False, True, None, range_problem=str(exc)))
        return
    ui.slicesLabel.text = _("Slices ({axis}):").format(axis=sel.letter)
    where = _("counted along the volume's {axis} axis: the model cuts {plane} slices, {count} of them (0..{last})").format(
        axis=sel.letter, plane=sel.plane, count=sel.count, last=sel.count - 1)
    override = _("The selected region sets the slices.") if p.roiNode is not None else _("Ignored when a region is selected.")
    ui.firstSliceSpinBox.toolTip = _("First slice to segment, {where}. {override}").format(where=where, override=override)
    ui.lastSliceSpinBox.toolTip = _("Last slice (inclusive), {where}. {override}").format(where=where, override=override)
    device = p.device if p.device != "auto" else (engine_device or "auto")
    points = time_point_count(p.inputVolume) if p.allTimePoints else 0  # all time points of a sequence: each one
    ui.estimateLabel.text = logic.timeEstimate(p.modelId, device, sel.size, p.samples, p.steps, max(1, points))


def show_warnings(ui: Any, warnings: Sequence[str]) -> None:
    """The run's quality warnings in the orange status line (hidden when there are none)."""
    ui.warningLabel.text = warnings_html(warnings)
    ui.warningLabel.toolTip = "\n".join(warnings)
    ui.warningLabel.visible = bool(warnings)


def show_job_event(ui: Any, event: Any) -> Optional[str]:
    """Show a running job's ``progress`` (bar, slice count, time left) or ``info`` (engine device) event.

    The bar stays below 100 while the job runs (its last frame: every slice done, the result not yet
    received and written); ``JobEndMixin._endJob`` fills it once the result is written.

    Args:
        ui: the widget's ui.
        event: a :class:`SDSegLib.engine_runner.JobEvent` that does not end the job.

    Returns:
        ``"cuda"``/``"cpu"`` for an ``info`` event (the engine's device, for the time estimate), else None.
    """
    from SDSegLogic.progress import format_seconds

    if event.kind == "progress":
        done, total = int(event.data.get("done", 0)), max(1, int(event.data.get("total", 1)))
        points, eta = int(event.data.get("time_points", 0)), format_seconds(event.data.get("eta_s"))
        ui.progressBar.setRange(0, 100)
        if points:  # all time points of a sequence: the bar covers every one, the time left too
            point = int(event.data.get("time_point", 1))
            ui.progressBar.setValue(min(99, int(100 * (point - 1 + done / total) / points)))
            ui.etaLabel.text = _("Time point {point}/{points}, slice {done}/{total}, about {eta} left").format(
                point=point, points=points, done=done, total=total, eta=eta)
        else:
            ui.progressBar.setValue(min(99, int(100 * done / total)))
            ui.etaLabel.text = _("Slice {done}/{total}, about {eta} left").format(done=done, total=total, eta=eta)
    elif event.kind == "waiting":  # the engine finishes another run first: a moving bar, no slice count yet
        ui.progressBar.setRange(0, 0)
        ui.etaLabel.text = event.text
    elif event.kind == "info":
        ui.deviceInfoLabel.text = event.text
        return "cuda" if str(event.data.get("device", "")).startswith("cuda") else "cpu"
    return None


def show_engine_not_started(ui: Any, cancelled: bool = False) -> str:
    """The device line after a run whose engine never answered (it failed to start or to connect, or was cancelled).

    The line described the engine of an earlier run, which is gone (stopped to start the new one)
    or not the one asked for; Copy diagnostics copies it. Returns ``""``: the engine device known
    for the time estimate.

    Args:
        ui: the panel's widgets.
        cancelled: the run was cancelled before an engine answered (Cancel during its start).
    """
    if cancelled:
        ui.deviceInfoLabel.text = _("<i>The engine start was cancelled; no engine answered. GPU and memory are shown "
                                    "once an engine has started.</i>")
    else:
        ui.deviceInfoLabel.text = _("<i>The engine did not start or could not be reached (see the status log); GPU and "
                                    "memory are shown once it has started.</i>")
    return ""


def removed_output_notes(names: Sequence[Optional[str]], found: Sequence[Any], written: str) -> List[str]:
    """Log lines for the output nodes chosen when a run started and removed from the scene before it ended.

    Args:
        names: names of the chosen segmentation, probability and uncertainty nodes at the start
            (None where none was chosen).
        found: the same nodes looked up by id at the end (None where removed).
        written: name of the segmentation node the result went to instead.
    """
    notes = []
    for index, (name, node) in enumerate(zip(names, found)):
        if name is None or node is not None:
            continue
        if index == 0:
            notes.append(_("The chosen segmentation '{name}' was removed during the run; the result went to a new "
                           "segmentation, '{written}'.").format(name=name, written=written))
        else:
            notes.append(_("The chosen volume '{name}' was removed during the run; its map was not written.").format(
                name=name))
    return notes


class DoubleClickGuard:
    """Tells the second click of a double-click on Segment/Cancel, which must not toggle the run back.

    Qt turns a double-click on a push button into two clicks, and the first click already turned
    Segment into Cancel (or Cancel back into Segment once the engine confirmed): the second click
    would cancel the run the user just started, or start a new one right after the cancel. A click
    within Qt's double-click interval of a click on Segment, while the run it started has shown no
    progress yet, or of a click on Cancel, is ignored and logged.

    Args:
        log: receives the line that says a click was ignored and what to do instead.
    """

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self._segment = self._cancel = float("-inf")  # time.monotonic() of the last click taken as Segment / as Cancel

    def ignored(self, running: bool, progress_shown: bool, interval_ms: int) -> bool:
        """Whether this click is the second click of a double-click (then ignore it); else it is remembered.

        Args:
            running: a run is going on (the button reads Cancel).
            progress_shown: the run has shown progress (the bar is no longer busy).
            interval_ms: Qt's double-click interval (``qt.QApplication.doubleClickInterval()``).
        """
        now, interval = time.monotonic(), interval_ms / 1000.0
        if running and not progress_shown and now - self._segment < interval:
            self._log(_("Segment was double-clicked: the run goes on. Click Cancel to stop it."))
            return True
        if not running and now - self._cancel < interval:
            self._log(_("Cancel was double-clicked: no new run was started. Click Segment to start one."))
            return True
        if running:
            self._cancel = now
        else:
            self._segment = now
        return False
