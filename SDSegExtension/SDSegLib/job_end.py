"""How a run ends in the panel: cancel, reset, write the result, say what happened (needs Slicer).

:class:`JobEndMixin` is a base class of ``SDSegWidget`` (kept apart so that ``SDSeg.py`` stays
small); the widget's QTimer slot ``_onTimer`` polls the job, cancels it through
:meth:`JobEndMixin._cancelJob` when :func:`input_gone` finds its input gone, and hands the job's
last event (``done``, ``cancelled`` or ``error``) to :meth:`JobEndMixin._onJobEnd`.

The host widget provides ``ui``, ``logic``, ``_job``, ``_timer``, ``_engineDevice``, ``_log(text)``
and ``_updateState()``.
"""

from __future__ import annotations

from typing import Any

import slicer
from slicer.i18n import tr as _

from SDSegLogic.errors import SDSegError
from SDSegLogic.server.error_code import without_error_code

from .diagnostics import error_dialog, error_report
from .input_guard import grid_change
from .panel_state import removed_output_notes, show_engine_not_started, show_warnings
from .segmentation_writer import show_segmentation
from .time_point import time_point_change

__all__ = ["JobEndMixin", "input_gone", "status_line"]

_NOT_A_REASON = ("----", "Traceback (most recent call last)", "File \"")  # log separators and traceback frames


def status_line(text: str) -> str:
    """The one line the status label shows for a job's last event.

    The first line of ``text``, unless it only introduces the lines after it (``"... exited with
    code 3. Last engine log lines:"``): that dangling introduction is replaced by the last
    meaningful line that follows (the engine's own last word, e.g. why its model did not load).
    Either way without the protocol's error code (``[engine error: input_error]``), which the
    dialog and the status log keep.

    Args:
        text: the event's text, possibly several lines (a dead engine's message quotes its log).
    """
    lines = [line.strip() for line in str(text).splitlines()]
    first = without_error_code(lines[0]) if lines else ""  # a one-line refusal ends with the code
    reasons = [line for line in lines[1:] if line and not line.startswith(_NOT_A_REASON)]
    if not first.endswith(":") or not reasons:
        return first
    head = first[:-1].rstrip()
    cut = head.rfind(". ")
    head = head[:cut + 1] if cut >= 0 else head + "."
    return f"{head} {_('Last engine log line:')} {without_error_code(reasons[-1])}"


def input_gone(job: Any) -> str:
    """Why a running job can no longer give a result for its input (then cancel it); ``""`` while it can.

    The input volume was removed from the scene, or now has another voxel grid (resampled, cropped,
    another image loaded into it). A volume of a sequence that only shows another time point than
    the one being segmented is not gone: the result is written after that time point is shown
    again (:meth:`SDSegModuleLogic.applyResult`).
    """
    volume = slicer.mrmlScene.GetNodeByID(job.volumeNodeID)
    if volume is None:
        return _("the input volume was removed from the scene")
    if time_point_change(job.timePoint):
        return ""
    return grid_change(volume, job.geometry)


class JobEndMixin:
    """Cancel a run, reset the panel after it, and write its result when it ends ``done``."""

    def _cancelJob(self, reason: str = "") -> None:
        """Cancel the running job, if any, and reset the panel (its events are no longer read).

        Args:
            reason: why, shown in the status line and the log (e.g. "the scene is closing"); none
                for the module's cleanup.
        """
        if self._job is not None:
            if reason:
                self.ui.etaLabel.text = _("Cancelled: {reason}.").format(reason=reason)
                self._log(_("The running segmentation is cancelled and nothing is written: {reason}.").format(reason=reason))
            self._job.cancel()
            if not self._job.info:  # cancelled before an engine answered: the line was an earlier engine's
                self._engineDevice = show_engine_not_started(self.ui, cancelled=True)
        self._endJob()

    def _drainLog(self) -> None:
        """Move the logic's queued log lines (engine start, time points written, ...) into the status log, in order."""
        for text in self.logic.drainLog() if self.logic is not None else []:
            self._log(text)

    def _endJob(self, written: bool = False) -> None:
        """Back to the idle panel (no job, timer stopped, controls enabled); a full bar only when ``written``."""
        self._job = None
        self._timer.stop()
        self._drainLog()
        self.ui.progressBar.setRange(0, 100)
        self.ui.progressBar.setValue(100 if written else 0)
        self._updateState()

    def _onJobEnd(self, job: Any, event: Any) -> bool:
        """Show how ``job`` ended and write its result when ``event`` is ``done``; True when written.

        Raises:
            SDSegError: the result could not be written (the caller shows it).
        """
        self._drainLog()  # what the last poll queued (the last time point written) comes before how the run ended
        self.ui.etaLabel.text = status_line(event.text)
        self._log(event.text)
        if event.kind == "error":
            logLines = error_report(event.text, event.data)[1]  # the engine log, for an internal error or a dead engine
            if logLines:
                self._log(logLines)
            message, details = error_dialog(event.text, event.data)  # the log once: in the details, not quoted again
            slicer.util.errorDisplay(_("Segmentation failed:") + "\n" + message, detailedText=details)
        if event.kind != "done":
            if not job.info:  # no engine answered (failed, or cancelled during its start): the line was an earlier engine's
                self._engineDevice = show_engine_not_started(self.ui, cancelled=event.kind == "cancelled")
            return False
        volume = slicer.mrmlScene.GetNodeByID(job.volumeNodeID)
        if volume is None:
            raise SDSegError(_("the input volume was removed from the scene during the run; nothing was written."))
        outputs = [slicer.mrmlScene.GetNodeByID(i) if i else None for i in job.outputNodeIDs]
        segmentation = show_segmentation(self.logic.applyResult(job, volume, *outputs))  # a script-made output too
        self._drainLog()  # what writing did first (e.g. the segmented time point shown again)
        self.ui.show3DButton.setSegmentationNode(segmentation)
        self._log(_("Result written to '{name}'.").format(name=segmentation.GetName()))
        for note in removed_output_notes(job.outputNodeNames, outputs, segmentation.GetName()):
            self._log(note)  # chosen outputs deleted during the run
        for warning in job.result_warnings:  # the engine's, and whether the input changed during the run
            self._log(_("Warning: {text}").format(text=warning))
        show_warnings(self.ui, job.result_warnings)
        return True
