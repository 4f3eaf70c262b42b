"""Segment every time point of a volume sequence, one engine job after the other (needs Slicer).

:class:`SequenceRun` has the interface of :class:`~SDSegLib.engine_runner.SegmentationJob` that the
widget and the blocking ``process`` use (``poll``, ``cancel``, ``wait``, ``finished``, ``error``,
``info``, ``result_warnings``, ``volumeNodeID``, ``geometry``, ``sliceAxis``, ``timePoint``, ``logic``,
``outputNodeIDs``, ``outputNodeNames``, ``cancelPressed``), so both drive it as they drive one job.
Each time point is an ordinary job started by :meth:`SDSegModuleLogic.startJob` on that time
point's volume (nothing of the engine or job code is repeated); when it is done, its result is
written by :meth:`SDSegModuleLogic.applyResult` into a hidden, incomplete segmentation sequence
(:class:`~SDSegLib.sequence_writer.SegmentationSequenceBuilder`) and the next time point starts.
``poll`` does that writing, so it must be called from the GUI thread (as the widget's QTimer does).

Progress events carry ``time_point`` (1-based) and ``time_points`` besides the slice counts, and an
``eta_s`` for the whole run. Cancel (or any failure) stops the whole run and **adds nothing**: the
time points already segmented are discarded and the final event says how many. A run whose browser
or volume sequence is removed from the scene meanwhile ends ``cancelled`` at the next poll, saying
so (:func:`~SDSegLib.sequence_input.sequence_gone`), as does one whose sequence gains or loses time
points meanwhile (they are segmented by position: a result would land at another index value).
Only a run whose every time point was written ends ``done``; :meth:`SequenceRun.commit` then adds
the sequence to the input's browser.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from SDSegLogic.errors import InputError, SDSegError

from .engine_runner import JobEvent
from .sequence_input import check_sequence_output, require_volume_sequence, sequence_gone
from .sequence_writer import SegmentationSequenceBuilder

__all__ = ["SequenceRun", "NOTHING_ADDED"]

NOTHING_ADDED = "nothing was added: the {done} time point(s) already segmented were discarded"
"""How a cancelled or failed all-time-points run ends (no partial sequence is ever added)."""
_END_KINDS = ("done", "cancelled", "error")


class SequenceRun:
    """All time points of the sequence that ``inputVolume`` browses, segmented one job at a time.

    Args:
        logic: the SDSegModuleLogic (its ``startJob``, ``applyResult`` and ``inputModality``).
        inputVolume: the proxy volume node of a sequence browser.
        options: the keyword arguments of ``startJob`` for every time point (model, device, steps, ...);
            probability and uncertainty maps are not offered for sequences.
        outputSegmentation: the segmentation the result will go to, checked now (see
            :func:`~SDSegLib.sequence_input.check_sequence_output`); None creates one at the end.
        log: receives a line per time point written (the logic's log).

    Raises:
        InputError: ``inputVolume`` is not a sequence's proxy, maps were asked for, or the output
            segmentation belongs to another browser.
    """

    def __init__(self, logic: Any, inputVolume: Any, options: Dict[str, Any], outputSegmentation: Any = None,
                 log: Callable[[str], None] = print) -> None:
        if options.get("wantProbabilities") or options.get("wantVariance"):
            raise InputError("probability and uncertainty maps are not written when all time points are segmented; "
                             "choose no map volume, or segment the current time point only.")
        self.volumes = require_volume_sequence(inputVolume)
        check_sequence_output(self.volumes, outputSegmentation)
        self._logic, self._options, self._log, self._output = logic, dict(options), log, outputSegmentation
        self._modality = logic.inputModality(inputVolume)  # a DICOM series' modality is on the browsed volume
        self._values = self._index_values()  # the time points when the run starts; another set stops the run
        # the attributes of SegmentationJob that the widget and SDSegModuleLogic read or set
        self.volumeNodeID = inputVolume.GetID()
        self.geometry = None  # the browsed volume's grid follows the selected time point; each one is checked when written
        self.sliceAxis: Optional[int] = None  # each time point's job counts its own slices
        self.timePoint: Any = None  # every time point is segmented, not the one shown
        self.logic: Any = logic  # kept alive (and its engine) while the run goes on
        self.outputNodeIDs: Tuple[Optional[str], ...] = ()  # set by the widget (SDSeg.py), as for a job
        self.outputNodeNames: Tuple[Optional[str], ...] = ()
        self.cancelPressed = False  # Cancel was pressed (the log says "Cancelling ..." once)
        self.finished = False
        self.output: Optional[SegmentationSequenceBuilder] = None  # set when every time point is written
        self.error: Optional[BaseException] = None
        self.info: Dict[str, Any] = {}
        self.result_warnings: List[str] = []
        self._builder: Optional[SegmentationSequenceBuilder] = None
        self._job: Any = None
        self._number = self._written = 0
        self._cancelled = False
        self._started = self._item_started = time.monotonic()
        self._item_seconds: List[float] = []

    def start(self) -> "SequenceRun":
        """Start the first time point's job (a failure to start removes what was made and is raised)."""
        self._builder = SegmentationSequenceBuilder(self.volumes, f"{self.volumes.proxy.GetName()} SDSeg", self._output)
        try:
            self._start_item()
        except Exception:
            self._builder.discard()
            raise
        return self

    def _start_item(self) -> None:
        self._item_started = time.monotonic()
        item = self.volumes.item(self._number)
        self._job = self._logic.startJob(item, modality=self._modality, **self._options)

    def cancel(self) -> None:
        """Stop the whole run: the time points written so far are removed now (GUI thread), so nothing
        is left behind even when the caller stops polling (the widget on scene close); a
        ``cancelled`` event follows for a caller that goes on polling."""
        if not self.finished:
            self._cancelled = True
            self._job.cancel()
            self._builder.discard()

    def poll(self) -> List[JobEvent]:
        """The events since the last call; writes finished time points and starts the next (GUI thread)."""
        events: List[JobEvent] = []
        if self.finished:
            return events
        gone = sequence_gone(self.volumes) or self._changed()
        if gone:  # nothing could be added: stop now, not after segmenting every time point left
            self._job.cancel()
            where = self._where()
            return [self._stop("cancelled", f"Cancelled at {where}: {gone}; {self._nothing()}.", {"confirmed": True})]
        for event in self._job.poll():
            if event.kind == "progress":
                events.append(self._progress(event))
            elif event.kind not in _END_KINDS:
                self.info = self._job.info or self.info
                events.append(event)
            else:
                end = self._item_end(event)
                if end is not None:
                    events.append(end)
                break  # a new job (or none) from here on
        return events

    def wait(self, timeout: Optional[float] = None) -> List[JobEvent]:
        """Block until the run ends (scripts, tests): polls, so call it from the GUI thread."""
        deadline = None if timeout is None else time.monotonic() + timeout
        events: List[JobEvent] = []
        while not self.finished and (deadline is None or time.monotonic() < deadline):
            events += self.poll()
            if not self.finished:
                time.sleep(0.05)
        return events

    def commit(self, outputSegmentation: Any = None) -> Any:
        """Add the complete segmentation sequence to the browser; returns the browsed segmentation node.

        Raises:
            SDSegError: the run did not end ``done`` (nothing to add), or the output is refused.
        """
        if self.output is None:
            raise SDSegError("the run has no complete result (it failed or was cancelled); nothing was added.")
        try:
            check_sequence_output(self.volumes, outputSegmentation)
            return self.output.commit(outputSegmentation)
        except Exception:
            self.output.discard()
            raise

    # ------------------------------------------------------------------ internals
    def _progress(self, event: JobEvent) -> JobEvent:
        count, number = self.volumes.count, self._number
        data = dict(event.data, time_point=number + 1, time_points=count)
        done, total = int(data.get("done", 0)), max(1, int(data.get("total", 1)))
        if data.get("eta_s") is not None:  # this time point's rest plus the others at the pace seen so far
            left = float(data["eta_s"])
            each = (sum(self._item_seconds) / len(self._item_seconds) if self._item_seconds
                    else time.monotonic() - self._item_started + left)
            data["eta_s"] = left + each * (count - number - 1)
        return JobEvent("progress", text=f"Time point {number + 1}/{count}, slice {done}/{total}", data=data)

    def _item_end(self, event: JobEvent) -> Optional[JobEvent]:
        job, number, where = self._job, self._number, self.volumes.describe(self._number)
        if event.kind == "cancelled" or self._cancelled:  # a time point done just as Cancel came is not written
            data = event.data if event.kind == "cancelled" else {"confirmed": True}
            return self._stop("cancelled", f"Cancelled at {where}; {self._nothing()}.", data)
        if event.kind == "error":
            return self._stop("error", f"Failed at {where}; {self._nothing()}. {event.text}", event.data, job.error)
        try:
            self._builder.add(number, lambda volume, segmentation: self._logic.applyResult(job, volume, segmentation))
        except Exception as exc:  # noqa: BLE001 - ends the run like an engine error
            return self._stop("error", f"Writing {where} failed; {self._nothing()}. {exc}", {"code": "write_error"}, exc)
        self._written += 1
        self.result_warnings += [f"Time point {number + 1}: {warning}" for warning in job.result_warnings]
        self._item_seconds.append(time.monotonic() - self._item_started)
        self._log(f"Segmented {where} in {self._item_seconds[-1]:.1f} s.")
        if number + 1 == self.volumes.count:
            self.finished, self.output = True, self._builder
            text = f"Segmented all {self.volumes.count} time points in {time.monotonic() - self._started:.1f} s."
            return JobEvent("done", text=text, data={"warnings": list(self.result_warnings)})
        self._number += 1
        try:
            self._start_item()
        except Exception as exc:  # noqa: BLE001 - e.g. a slice range outside the next time point's grid
            where = self.volumes.describe(self._number)
            return self._stop("error", f"Failed at {where}; {self._nothing()}. {exc}", {"code": "input_error"}, exc)
        return None

    def _where(self) -> str:
        """The time point being segmented, as the run's start numbered it (the sequence may have changed since)."""
        sequence, number = self.volumes.sequence, self._number
        name, unit = str(sequence.GetIndexName() or ""), str(sequence.GetIndexUnit() or "")
        value = f"{self._values[number]} {unit}".strip() if number < len(self._values) else "?"
        where = f"time point {number + 1}/{len(self._values)}"
        return f"{where} ({name} = {value})" if name else where

    def _index_values(self) -> Tuple[str, ...]:
        return tuple(self.volumes.index_value(number) for number in range(self.volumes.count))

    def _changed(self) -> str:
        """Why the sequence's time points are no longer those of the run's start (added, removed); ``""`` if they are.

        Time points are segmented by position: one inserted or removed meanwhile would put a time
        point's result at another's index value, and the run would end ``done`` with a wrong sequence.
        """
        now = self._index_values()
        if now == self._values:
            return ""
        return (f"the sequence '{self.volumes.sequence.GetName()}' changed during the run (time points added or removed: "
                f"{len(now)} instead of {len(self._values)}, or other index values)")

    def _nothing(self) -> str:
        return NOTHING_ADDED.format(done=self._written)

    def _stop(self, kind: str, text: str, data: Dict[str, Any], cause: Optional[BaseException] = None) -> JobEvent:
        """End the run as cancelled or failed: the incomplete sequence is removed, nothing is added."""
        if self._builder is not None:
            self._builder.discard()
        self.finished = True
        if kind == "error":
            self.error = SDSegError(text)
            self.error.code = str(getattr(cause, "code", data.get("code", type(cause).__name__)))
        return JobEvent(kind, text=text, data=dict(data))
