"""The time point a single-volume run segments when its input is a sequence's volume (needs Slicer).

Segment on the volume of a 4D/cine series (the proxy node of a Sequences browser) segments the
time point shown when it was clicked. Slicer stays usable during the run, and scrolling time
copies another time point's voxels into that same volume node; a result written then would
describe one time point and land on another: over the wrong image, and, when the output
segmentation is itself browsed with "save changes" (the result of an all-time-points run), saved
by the browser into the *selected* time point's item (``vtkSlicerSequencesLogic::
UpdateSequencesFromProxyNodes`` writes a modified proxy at the master sequence's selected index
value). So the run remembers its time point (:func:`shown_time_point`), a time scroll during the
run is not taken for a changed input (:func:`time_point_change`), and before the result is written
:func:`show_time_point` shows the segmented time point again, with playback stopped (Slicer does
not save proxy changes while a browser plays).

Slicer 5.x calls used, as declared in ``Modules/Loadable/Sequences/MRML/vtkMRMLSequenceBrowserNode.h``:
``GetSelectedItemNumber``, ``GetMasterSequenceNode``, ``SetSelectedItemByIndexValue(value)``,
``GetPlaybackActive``, ``SetPlaybackActive``; selecting an item updates the proxy nodes at once (the
Sequences logic observes the browser).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from SDSegLogic.errors import InputError

from .sequence_input import VolumeSequence, find_volume_sequence

__all__ = ["TimePoint", "shown_time_point", "time_point_change", "show_time_point"]


@dataclass(frozen=True)
class TimePoint:
    """The time point a sequence browser showed in a volume when Segment was clicked.

    Attributes:
        volume: the browsed (proxy) volume node, the run's input.
        browser: the vtkMRMLSequenceBrowserNode showing it.
        value: the master sequence's index value of that time point (e.g. ``"0.5"``).
        text: how a person reads it, e.g. ``"time point 2/10 (time = 0.5 s)"``.
    """

    volume: Any
    browser: Any
    value: str
    text: str


def _selected(browser: Any, volume: Any) -> Optional[TimePoint]:
    """The time point ``browser`` shows now, or None when it shows none (no master sequence, no item)."""
    master = browser.GetMasterSequenceNode()
    number = int(browser.GetSelectedItemNumber())
    if master is None or not 0 <= number < int(master.GetNumberOfDataNodes()):
        return None
    text = VolumeSequence(volume, browser, master).describe(number)
    return TimePoint(volume, browser, str(master.GetNthIndexValue(number)), text)


def shown_time_point(volume: Any) -> Optional[TimePoint]:
    """The time point ``volume`` shows, when it is a sequence browser's volume; None for a plain volume."""
    found = find_volume_sequence(volume)
    return _selected(found.browser, volume) if found is not None else None


def time_point_change(point: Optional[TimePoint]) -> str:
    """``""`` while ``point``'s browser still shows it; else the time point it shows instead (``"time point 3/10 (...)"``).

    Also ``""`` when that can no longer be told (no time point was recorded, the browser was
    removed or shows no item): the input's own checks then decide.
    """
    import slicer

    if point is None or slicer.mrmlScene.GetNodeByID(point.browser.GetID()) is None:
        return ""
    now = _selected(point.browser, point.volume)
    if now is None or now.value == point.value:
        return ""
    return now.text


def show_time_point(point: Optional[TimePoint]) -> str:
    """Show ``point`` again in its browser, playback stopped, so that a result written now goes to it.

    Returns:
        The log line saying what was changed (playback stopped, the time point shown again),
        ``""`` when nothing had to change.

    Raises:
        InputError: the time point was removed from the sequence meanwhile (nothing can be written
            over the image it was made from).
    """
    import slicer

    if point is None or slicer.mrmlScene.GetNodeByID(point.browser.GetID()) is None:
        return ""
    notes = []
    if point.browser.GetPlaybackActive():
        point.browser.SetPlaybackActive(False)  # a playing browser does not save changes of its proxy nodes
        notes.append(f"playback of '{point.browser.GetName()}' was stopped")
    shown = time_point_change(point)
    if shown and not point.browser.SetSelectedItemByIndexValue(point.value):  # that time point is no longer there
        raise InputError(f"{point.text}, the time point of '{point.volume.GetName()}' that was segmented, was removed from "
                         f"the sequence during the run, so the result would go over {shown}; nothing was written. "
                         "Run Segment again.")
    if shown:
        notes.append(f"'{point.volume.GetName()}' was set back from {shown} to {point.text}, the one segmented")
    if not notes:
        return ""
    return f"Before the result was written, {' and '.join(notes)}, so that it goes to {point.text}."
