"""The fake ``vtkMRMLSegmentationDisplayNode`` of ``fake_slicer_nodes.FakeSegmentationNode``: per-segment display.

As in 3D Slicer, a segment's display properties (visibility, opacity) belong to the segment on
the display node: removing a segment removes them, and a segment added again under the same id
starts with the defaults (visible, opaque), the way Slicer's display node answers the
segmentation's ``SegmentRemoved``/``SegmentAdded`` events. Here a property set for one segment
object is reported only while that object is the segment of its id.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

__all__ = ["FakeSegmentationDisplayNode"]

_DEFAULTS = {"visibility": True, "opacity": 1.0}


class FakeSegmentationDisplayNode:
    """Per-segment visibility and opacity of a segmentation node (``node``)."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.properties: Dict[str, Tuple[Any, Dict[str, Any]]] = {}  # id -> (segment object, its properties)

    def _current(self, segment_id: str) -> Dict[str, Any]:
        segment = self.node.GetSegmentation().GetSegment(segment_id)
        entry = self.properties.get(segment_id)
        return dict(entry[1]) if entry is not None and segment is not None and entry[0] is segment else dict(_DEFAULTS)

    def _set(self, segment_id: str, key: str, value: Any) -> None:
        segment = self.node.GetSegmentation().GetSegment(segment_id)
        if segment is None:
            return  # as Slicer's: nothing is stored for a segment that does not exist
        properties = self._current(segment_id)
        properties[key] = value
        self.properties[segment_id] = (segment, properties)

    def SetSegmentVisibility(self, segment_id: str, visible: bool) -> None:
        self._set(segment_id, "visibility", bool(visible))

    def GetSegmentVisibility(self, segment_id: str) -> bool:
        return bool(self._current(segment_id)["visibility"])

    def SetSegmentOpacity(self, segment_id: str, opacity: float) -> None:
        self._set(segment_id, "opacity", float(opacity))

    def GetSegmentOpacity(self, segment_id: str) -> float:
        return float(self._current(segment_id)["opacity"])
