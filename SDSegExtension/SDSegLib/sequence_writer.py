"""Collect one segmentation per time point and add them to the scene as a segmentation sequence (needs Slicer).

What a clinician gets from "All time points" (the guarantees of :mod:`.segmentation_writer`, per time point):

* each time point's segmentation is written by the single-volume path (:meth:`SDSegModuleLogic.applyResult`
  and :func:`~SDSegLib.segmentation_writer.write_segmentation`): named, coloured, terminology-coded
  segments, voxel for voxel on *that time point's* grid (its own IJK->RAS: origin, spacing,
  directions may differ between time points), its reference image geometry set from that volume;
* the results wait in a sequence node hidden from the node selectors and the Data module; only
  when every time point is written is it added to the input's browser (so scrolling time shows
  each time point's segmentation). A cancelled or failed run removes it: **nothing is added**,
  never a partial sequence that could be taken for a complete one;
* the browsed segmentation (the proxy node) references the browsed volume, has its parent
  transform and sits in its study; changes made to it (Segment Editor) are saved into the
  selected time point (the browser's *save changes*);
* a run into the segmentation of an earlier run (the same browser) writes each time point over
  that run's item, as a single volume is written over a chosen segmentation: a segment a person
  worked on there (corrected, reviewed) or drew themselves is kept, and the time point's warnings
  name it (``vtkMRMLNode::CopyContent`` copies the earlier item into the time point's node first).

Slicer 5.x calls used, as declared in Slicer's sources: ``vtkMRMLSequenceNode::CopySequenceIndex``,
``SetDataNodeAtValue`` (deep copy), ``RemoveAllDataNodes`` (``Libs/MRML/Core/vtkMRMLSequenceNode.h``);
``vtkMRMLSequenceBrowserNode::AddProxyNode(proxy, sequence, copy=False)`` (adds the sequence for
synchronized browsing when it is not yet, and makes the given node its proxy), ``GetSequenceNode``,
``SetSaveChanges`` (``Modules/Loadable/Sequences/MRML/vtkMRMLSequenceBrowserNode.{h,cxx}``);
``vtkSlicerSequencesLogic::UpdateProxyNodesFromSequences(browser)`` (``.../Logic/vtkSlicerSequencesLogic.h``).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import vtk

from SDSegLogic.errors import SDSegError

from .segmentation_writer import _place_in_subject_hierarchy, show_segmentation
from .sequence_input import VolumeSequence, sequences_logic

__all__ = ["SegmentationSequenceBuilder", "TIME_POINTS_ATTRIBUTE"]

TIME_POINTS_ATTRIBUTE = "SDSeg.TimePoints"
"""Attribute of the browsed segmentation and of each item: how many time points were segmented (all of them)."""


class SegmentationSequenceBuilder:
    """A segmentation sequence built one time point at a time, added to the browser only when complete.

    Args:
        volumes: the input's volume sequence and browser.
        name: base name of the result (e.g. ``"CT 4D SDSeg"``).
        output: the segmentation the result will be committed to, or None; when ``volumes.browser``
            already browses it (an earlier run), each time point is written over that run's item.
    """

    def __init__(self, volumes: VolumeSequence, name: str, output: Any = None) -> None:
        import slicer

        self.volumes, self.name = volumes, name
        self._earlier = volumes.browser.GetSequenceNode(output) if output is not None else None
        scene = slicer.mrmlScene
        self._sequence: Optional[Any] = scene.AddNewNodeByClass(
            "vtkMRMLSequenceNode", scene.GenerateUniqueName(f"{name} (incomplete, being segmented)"))
        self._sequence.SetHideFromEditors(True)  # not offered anywhere while it is incomplete
        self._sequence.CopySequenceIndex(volumes.sequence)  # same index name, unit and type as the volumes

    @property
    def count(self) -> int:
        """Time points written so far."""
        return int(self._sequence.GetNumberOfDataNodes()) if self._sequence is not None else 0

    def add(self, number: int, write: Callable[[Any, Any], Any]) -> None:
        """Write time point ``number`` with ``write(volume, segmentation)`` and keep a copy at its index value.

        ``volume`` is a temporary scene volume holding that time point's voxels (shared, never
        modified) and grid, under the input's parent transform: the single-volume writer then
        works exactly as for any volume. ``segmentation`` holds the earlier run's item at this
        time point, if any (what a person did there is kept by the writer). Both temporary nodes
        are removed afterwards.
        """
        import slicer

        if self._sequence is None:
            raise SDSegError("the segmentation sequence was already added or discarded.")
        item, value = self.volumes.item(number), self.volumes.index_value(number)
        scene = slicer.mrmlScene
        volume = scene.AddNewNodeByClass(item.GetClassName(), self.volumes.proxy.GetName())
        segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", f"{self.name} {value}")
        try:
            for node in (volume, segmentation):
                node.SetHideFromEditors(True)
            earlier = self._earlier.GetDataNodeAtValue(value) if self._earlier is not None else None
            if earlier is not None:  # corrections saved in it (Segment Editor) and the person's own segments
                segmentation.CopyContent(earlier)
            # the items live in the browsed volume's frame, under its transform (CopyContent copies no reference)
            segmentation.SetAndObserveTransformNodeID(self.volumes.proxy.GetTransformNodeID())
            volume.SetAndObserveImageData(item.GetImageData())
            matrix = vtk.vtkMatrix4x4()
            item.GetIJKToRASMatrix(matrix)
            volume.SetIJKToRASMatrix(matrix)
            volume.SetAndObserveTransformNodeID(self.volumes.proxy.GetTransformNodeID())
            write(volume, segmentation)
            role = slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()
            segmentation.SetNodeReferenceID(role, self.volumes.proxy.GetID())  # the browsed volume, not the temporary one
            segmentation.SetAttribute(TIME_POINTS_ATTRIBUTE, str(self.volumes.count))  # on every item: the proxy copies them
            self._sequence.SetDataNodeAtValue(segmentation, value)
        finally:
            scene.RemoveNode(segmentation)
            scene.RemoveNode(volume)

    def discard(self) -> None:
        """Remove the incomplete sequence from the scene (cancel, failure): nothing stays behind."""
        import slicer

        if self._sequence is not None:
            slicer.mrmlScene.RemoveNode(self._sequence)
            self._sequence = None

    def commit(self, segmentation: Any = None) -> Any:
        """Add the complete sequence to the browser; returns the browsed segmentation node.

        Args:
            segmentation: the segmentation to browse it in; None creates one. One that this browser
                already browses (an earlier all-time-points run) gets its time points replaced.

        Raises:
            SDSegError: not every time point is written, or the browser was removed from the scene
                (then nothing is added).
        """
        import slicer

        volumes, scene = self.volumes, slicer.mrmlScene
        if self._sequence is None or self.count != volumes.count:
            raise SDSegError(f"only {self.count} of {volumes.count} time points were segmented; nothing was added.")
        if scene.GetNodeByID(volumes.browser.GetID()) is None:
            raise SDSegError(f"the sequence browser '{volumes.browser.GetName()}' was removed during the run; nothing was added.")
        if segmentation is None:
            segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(self.name))
        show_segmentation(segmentation)  # also one made by a script, which has no display node
        sequence = volumes.browser.GetSequenceNode(segmentation)
        if sequence is not None:  # an earlier run's sequence: same node, new time points
            sequence.RemoveAllDataNodes()
            for number in range(self.count):
                sequence.SetDataNodeAtValue(self._sequence.GetNthDataNode(number), self._sequence.GetNthIndexValue(number))
            self.discard()
        else:
            sequence, self._sequence = self._sequence, None
            sequence.SetName(scene.GenerateUniqueName(f"{segmentation.GetName()} sequence"))
            sequence.SetHideFromEditors(False)
            volumes.browser.AddProxyNode(segmentation, sequence, False)  # the segmentation shows the selected time point
        volumes.browser.SetSaveChanges(sequence, True)  # Segment Editor corrections are kept per time point
        segmentation.SetAndObserveTransformNodeID(volumes.proxy.GetTransformNodeID())
        segmentation.SetNodeReferenceID(slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole(),
                                        volumes.proxy.GetID())
        _place_in_subject_hierarchy(segmentation, volumes.proxy)
        logic = sequences_logic()
        if logic is not None:
            logic.UpdateProxyNodesFromSequences(volumes.browser)  # show the selected time point's segmentation now
        segmentation.SetAttribute(TIME_POINTS_ATTRIBUTE, str(volumes.count))
        return segmentation
