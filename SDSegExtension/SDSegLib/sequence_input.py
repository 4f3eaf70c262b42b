"""The volume sequence behind an input volume: the proxy node of a Sequences browser (needs Slicer).

A 4D CT or a cine series loaded into Slicer is a ``vtkMRMLSequenceNode`` of volumes, browsed by a
``vtkMRMLSequenceBrowserNode``; the volume shown in the views, and offered by the input selector,
is the browser's *proxy node*, which holds the selected time point. Slicer 5.x calls used here,
as declared in Slicer's sources (checked in the Slicer/Slicer repository):

* ``slicer.modules.sequences.logic().GetFirstBrowserNodeForProxyNode(node)``: the browser that
  shows ``node``, or None (``Modules/Loadable/Sequences/Logic/vtkSlicerSequencesLogic.h``);
* ``browser.GetSequenceNode(proxyNode)``: the sequence the proxy shows
  (``Modules/Loadable/Sequences/MRML/vtkMRMLSequenceBrowserNode.h``);
* ``sequence.GetNumberOfDataNodes()``, ``GetNthDataNode(n)``, ``GetNthIndexValue(n)``,
  ``GetIndexName()``, ``GetIndexUnit()`` (``Libs/MRML/Core/vtkMRMLSequenceNode.h``). The data nodes
  live in the sequence's own scene, not in ``slicer.mrmlScene``; their voxels and IJK->RAS matrix
  are read as any volume's (``Docs/developer_guide/script_repository/sequences.md`` reads them with
  ``slicer.util.arrayFromVolume(sequenceNode.GetNthDataNode(i))``). Each time point keeps its own grid.

``slicer`` is imported inside the functions, so this module is imported once and works with any
``slicer`` module (the tests swap in a fake one per test).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from SDSegLogic.errors import InputError

__all__ = ["VolumeSequence", "find_volume_sequence", "time_point_count", "require_volume_sequence",
           "check_sequence_output", "sequences_logic", "sequence_gone"]


def sequences_logic() -> Any:
    """Slicer's Sequences module logic, or None when the module is not loaded (Slicer started without it)."""
    import slicer

    module = getattr(getattr(slicer, "modules", None), "sequences", None)
    return module.logic() if module is not None else None


@dataclass(frozen=True)
class VolumeSequence:
    """A volume sequence and the browser that shows one of its time points in ``proxy``.

    Attributes:
        proxy: the browsed volume node in the scene (the module's input volume).
        browser: the vtkMRMLSequenceBrowserNode.
        sequence: the vtkMRMLSequenceNode of volumes that ``proxy`` shows.
    """

    proxy: Any
    browser: Any
    sequence: Any

    @property
    def count(self) -> int:
        """Number of time points (data nodes of the sequence)."""
        return int(self.sequence.GetNumberOfDataNodes())

    def item(self, number: int) -> Any:
        """The volume node of time point ``number`` (0-based), inside the sequence's own scene.

        Raises:
            InputError: the sequence has no volume with voxels at that position (changed during the run).
        """
        node = self.sequence.GetNthDataNode(int(number)) if 0 <= number < self.count else None
        if node is None or node.GetImageData() is None:
            raise InputError(f"time point {number + 1} of the sequence '{self.sequence.GetName()}' has no voxels; the "
                             "sequence changed while it was being segmented. Run Segment again.")
        return node

    def index_value(self, number: int) -> str:
        """The index value of time point ``number`` as the sequence stores it (e.g. ``"0.5"``)."""
        return str(self.sequence.GetNthIndexValue(int(number)))

    def describe(self, number: int) -> str:
        """``"time point 3/10 (time = 0.5 s)"``: what a person reads in the log."""
        name, unit = str(self.sequence.GetIndexName() or ""), str(self.sequence.GetIndexUnit() or "")
        value = f"{self.index_value(number)} {unit}".strip()
        return f"time point {number + 1}/{self.count} ({name} = {value})" if name else f"time point {number + 1}/{self.count}"


def find_volume_sequence(volume: Any) -> Optional[VolumeSequence]:
    """The sequence whose selected time point ``volume`` shows; None for a plain volume (or without Sequences)."""
    logic = sequences_logic() if volume is not None else None
    browser = logic.GetFirstBrowserNodeForProxyNode(volume) if logic is not None else None
    sequence = browser.GetSequenceNode(volume) if browser is not None else None
    if sequence is None or sequence.GetNumberOfDataNodes() < 1:
        return None
    return VolumeSequence(volume, browser, sequence)


def time_point_count(volume: Any) -> int:
    """How many time points the sequence behind ``volume`` has; 0 when it is a plain volume."""
    found = find_volume_sequence(volume)
    return found.count if found is not None else 0


def require_volume_sequence(volume: Any) -> VolumeSequence:
    """:func:`find_volume_sequence`, refusing a plain volume.

    Raises:
        InputError: ``volume`` is not the proxy node of a sequence browser.
    """
    found = find_volume_sequence(volume)
    if found is None:
        name = volume.GetName() if volume is not None else "(none)"
        raise InputError(f"the input volume '{name}' is not a time point of a sequence (a 4D or cine series browsed in "
                         "the Sequences module), so there are no other time points to segment; segment it on its own.")
    return found


def check_sequence_output(volumes: VolumeSequence, segmentation: Any) -> None:
    """Refuse, as output of an all-time-points run, a segmentation the result could not go to without a loss.

    A segmentation browsed by ``volumes.browser`` (an earlier run) has its time points replaced
    (what a person did in them is kept by the writer). An empty segmentation that no browser shows
    becomes the proxy node of the new segmentation sequence. One holding segments of its own is
    refused: as a proxy node it would show the selected time point's item, which replaces its
    content (``vtkSlicerSequencesLogic::UpdateProxyNodesFromSequences`` copies the item into the
    proxy), and those segments would be lost, kept in no time point.

    Raises:
        InputError: ``segmentation`` is the proxy node of another sequence browser, or holds
            segments and is browsed by none.
    """
    logic = sequences_logic() if segmentation is not None else None
    other = logic.GetFirstBrowserNodeForProxyNode(segmentation) if logic is not None else None
    if other is not None and other.GetID() != volumes.browser.GetID():
        raise InputError(f"the output segmentation '{segmentation.GetName()}' already shows the time points of another "
                         f"sequence ('{other.GetName()}'); choose 'Create new segmentation' as output.")
    segments = segmentation.GetSegmentation() if segmentation is not None and other is None else None
    count = int(segments.GetNumberOfSegments()) if segments is not None else 0
    if count:
        names = ", ".join(f"'{segments.GetNthSegment(n).GetName()}'" for n in range(min(count, 5)))
        names += ", ..." if count > 5 else ""
        raise InputError(f"the output segmentation '{segmentation.GetName()}' holds {count} segment(s) of its own ({names}) "
                         "and shows no time points of this sequence: showing the segmented time points in it would replace "
                         "them. Choose 'Create new segmentation' as output (or an empty segmentation).")


def sequence_gone(volumes: VolumeSequence) -> str:
    """Why the time points of ``volumes`` can no longer be segmented and added to its browser; ``""`` while they can.

    An all-time-points run checks this while it runs, so that it stops at once instead of
    segmenting every remaining time point for a result that could not be added.

    Returns:
        One clause (lower case, no full stop) naming what was removed: the input volume, the
        sequence browser or the volume sequence (from the scene), or the browsing of that
        sequence in the input volume.
    """
    import slicer

    scene, browser, sequence = slicer.mrmlScene, volumes.browser, volumes.sequence
    if scene.GetNodeByID(volumes.proxy.GetID()) is None:
        return f"the input volume '{volumes.proxy.GetName()}' was removed from the scene"
    if scene.GetNodeByID(browser.GetID()) is None:
        return f"the sequence browser '{browser.GetName()}' was removed from the scene"
    if scene.GetNodeByID(sequence.GetID()) is None:
        return f"the volume sequence '{sequence.GetName()}' was removed from the scene"
    browsed = browser.GetSequenceNode(volumes.proxy)
    if browsed is None or browsed.GetID() != sequence.GetID():
        return (f"the sequence browser '{browser.GetName()}' no longer shows the sequence '{sequence.GetName()}' "
                f"in '{volumes.proxy.GetName()}'")
    return ""
