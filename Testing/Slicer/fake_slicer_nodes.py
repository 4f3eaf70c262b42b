"""The fake MRML nodes of ``fake_slicer.py``: observable objects, (vector) volume, ROI and segmentation nodes.

Split out of ``fake_slicer.py`` (which re-exports every name, so tests keep using
``fake_slicer.FakeVolumeNode`` etc.). 3D Slicer's MRML cannot be installed outside Slicer; these
classes copy only the behaviour SDSeg relies on: ids and unique names, attributes and node
references, ``ModifiedEvent`` observers (fired at the end of a ``StartModify``/``EndModify`` block,
as a node's held-back event), vector volumes creatable by class name (``AddNewNodeByClass``, as
the sequence writer does for an RGB video's frames), one binary mask per segment on the reference volume's
grid (``CopyContent`` deep-copies them), the serialised reference-image geometry of
``vtkSegmentationConverter``, the segment status of ``vtkSlicerSegmentationsModuleLogic``, and the
subject hierarchy's item parents and attributes. A segmentation's display node (per-segment
visibility and opacity) is in ``fake_slicer_display.py``.
"""

from __future__ import annotations

import copy
import itertools
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

import numpy as np
import vtk
from fake_slicer_display import FakeSegmentationDisplayNode

if TYPE_CHECKING:  # only for the annotations; fake_slicer imports this module
    from fake_slicer import FakeScene

_ids = itertools.count(1)


# ---------------------------------------------------------------------- observable objects and nodes
class Observable:
    """``AddObserver``/``RemoveObserver``/``InvokeEvent`` as on vtkObject; callbacks get (caller, event)."""

    def __init__(self) -> None:
        self._observers: Dict[int, tuple] = {}

    def AddObserver(self, event: Any, callback: Callable, priority: float = 0.0) -> int:
        tag = next(_ids)
        self._observers[tag] = (event, callback)
        return tag

    def RemoveObserver(self, tag: int) -> None:
        self._observers.pop(tag, None)

    def InvokeEvent(self, event: Any) -> None:
        for wanted, callback in list(self._observers.values()):
            if wanted == event:
                callback(self, event)

    def Modified(self) -> None:
        self.InvokeEvent(vtk.vtkCommand.ModifiedEvent)


class FakeNode(Observable):
    """A MRML node: id, name, attributes, node references, parent transform id."""

    CLASS = "vtkMRMLNode"

    def __init__(self, name: str = "") -> None:
        super().__init__()
        self.id = f"{self.CLASS}{next(_ids)}"
        self.name, self.attributes, self.references, self.transform_id = name, {}, {}, None
        self.scene: Optional["FakeScene"] = None
        self.modify_depth = 0
        self.hide_from_editors = False

    def GetID(self) -> str:
        return self.id

    def GetName(self) -> str:
        return self.name

    def SetName(self, name: str) -> None:
        self.name = name

    def GetClassName(self) -> str:
        return self.CLASS

    def SetHideFromEditors(self, hide: bool) -> None:
        self.hide_from_editors = bool(hide)

    def IsA(self, class_name: str) -> bool:
        return class_name in [c.CLASS for c in type(self).__mro__ if hasattr(c, "CLASS")]

    def SetAttribute(self, key: str, value: str) -> None:
        self.attributes[key] = value

    def GetAttribute(self, key: str) -> Optional[str]:
        return self.attributes.get(key)

    def RemoveAttribute(self, key: str) -> None:
        self.attributes.pop(key, None)

    def SetNodeReferenceID(self, role: str, node_id: Optional[str]) -> None:
        self.references[role] = node_id

    def GetNodeReference(self, role: str) -> Optional["FakeNode"]:
        node_id = self.references.get(role)
        return self.scene.GetNodeByID(node_id) if node_id and self.scene is not None else None

    def GetTransformNodeID(self) -> Optional[str]:
        return self.transform_id

    def SetAndObserveTransformNodeID(self, transform_id: Optional[str]) -> None:
        self.transform_id = transform_id

    def GetParentTransformNode(self) -> None:
        return None

    def CreateDefaultDisplayNodes(self) -> None:
        pass

    def CopyContent(self, node: "FakeNode", deepCopy: bool = True) -> None:
        """vtkMRMLNode::CopyContent: the content (attributes here), not the id, name, references or HideFromEditors."""
        self.attributes = dict(node.attributes)

    def StartModify(self) -> int:
        self.modify_depth += 1
        return 0

    def EndModify(self, _was: int) -> None:
        """As vtkMRMLNode::EndModify: the ModifiedEvent held back during the modification fires at the outermost end."""
        self.modify_depth -= 1
        if self.modify_depth == 0:
            self.Modified()


class FakeVolumeNode(FakeNode):
    """A scalar volume: real vtkImageData voxels and an IJK->RAS matrix (RAS, as in Slicer)."""

    CLASS = "vtkMRMLScalarVolumeNode"

    def __init__(self, name: str = "Volume", array: Optional[np.ndarray] = None, ijk_to_ras: Optional[np.ndarray] = None) -> None:
        super().__init__(name)
        self.image = None
        self.ijk_to_ras = np.eye(4) if ijk_to_ras is None else np.asarray(ijk_to_ras, dtype=np.float64)
        if array is not None:
            from SDSegLib.volume_adapter import image_data_from_array

            self.image = image_data_from_array(array)

    def GetImageData(self):
        return self.image

    def SetAndObserveImageData(self, image) -> None:
        self.image = image

    def GetIJKToRASMatrix(self, matrix) -> None:
        for r in range(4):
            for c in range(4):
                matrix.SetElement(r, c, float(self.ijk_to_ras[r, c]))

    def SetIJKToRASMatrix(self, matrix) -> None:
        self.ijk_to_ras = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


class FakeVectorVolumeNode(FakeVolumeNode):
    """A vector volume (an RGB photo or video frame): a scalar volume node with 3 or 4 components per voxel, as in Slicer."""

    CLASS = "vtkMRMLVectorVolumeNode"


class FakeLabelMapVolumeNode(FakeVolumeNode):
    """A labelmap volume: a scalar volume node subclass in Slicer too (``vtkMRMLLabelMapVolumeNode``)."""

    CLASS = "vtkMRMLLabelMapVolumeNode"


class FakeROINode(FakeNode):
    """A markups ROI given by its RAS bounds (xmin, xmax, ymin, ymax, zmin, zmax)."""

    CLASS = "vtkMRMLMarkupsROINode"

    def __init__(self, name: str = "R", bounds=(0, 0, 0, 0, 0, 0)) -> None:
        super().__init__(name)
        self.bounds = list(bounds)

    def GetRASBounds(self, out: List[float]) -> None:
        out[:] = self.bounds


class FakeSegment:
    def __init__(self, name: str, color) -> None:
        self.name, self.color, self.tags = name, tuple(color), {}

    def GetName(self) -> str:
        return self.name

    def SetName(self, name: str) -> None:
        self.name = str(name)

    def GetColor(self):
        return self.color

    def SetColor(self, *color) -> None:
        self.color = tuple(float(c) for c in (color[0] if len(color) == 1 else color))

    def SetTag(self, key: str, value: str) -> None:
        self.tags[key] = value

    def RemoveTag(self, key: str) -> None:
        self.tags.pop(key, None)

    def GetTag(self, key: str) -> Optional[str]:
        return self.tags.get(key)

    @staticmethod
    def GetTerminologyEntryTagName() -> str:
        return "TerminologyEntry"


class FakeSegmentationsModuleLogic:
    """``slicer.vtkSlicerSegmentationsModuleLogic``'s segment status (Segment Editor's Not started / In progress /
    Completed / Flagged), as Slicer stores it: the segment tag ``Segmentation.Status`` holding the machine-readable
    name; no tag is Not started, an unknown name -1. Segment Editor sets In progress on a segment's first edit."""

    NotStarted, InProgress, Completed, Flagged, LastStatus = range(5)
    _MACHINE = ("notstarted", "inprogress", "completed", "flagged")
    _HUMAN = ("Not started", "In progress", "Completed", "Flagged")

    @staticmethod
    def GetStatusTagName() -> str:
        return "Segmentation.Status"

    @classmethod
    def GetSegmentStatus(cls, segment: "FakeSegment") -> int:
        value = segment.tags.get(cls.GetStatusTagName())
        return cls.NotStarted if value is None else (cls._MACHINE.index(value) if value in cls._MACHINE else -1)

    @classmethod
    def SetSegmentStatus(cls, segment: "FakeSegment", status: int) -> None:
        if status == cls.NotStarted and not segment.tags.get(cls.GetStatusTagName()):
            return  # as Slicer's: Not started is not written onto a segment that has no status yet
        segment.SetTag(cls.GetStatusTagName(), cls._MACHINE[status])

    @classmethod
    def GetSegmentStatusAsHumanReadableString(cls, status: int) -> str:
        return cls._HUMAN[status] if 0 <= status < cls.LastStatus else "Unknown"


class FakeSegmentationConverter:
    """``slicer.vtkSegmentationConverter``: the representation names and the reference-geometry parameter's name."""

    @staticmethod
    def GetSegmentationBinaryLabelmapRepresentationName() -> str:
        return "Binary labelmap"

    GetBinaryLabelmapRepresentationName = GetSegmentationBinaryLabelmapRepresentationName

    @staticmethod
    def GetSegmentationClosedSurfaceRepresentationName() -> str:
        return "Closed surface"

    @staticmethod
    def GetReferenceImageGeometryParameterName() -> str:
        return FakeSegmentationNode.GEOMETRY_PARAMETER


class FakeSegmentation:
    """vtkSegmentation: ordered segments, conversion parameters and the source representation's name.

    The source representation is what the segments are stored as: binary labelmap for a new
    segmentation, closed surface for one loaded from a model file or made from an RT structure
    set's contours; Slicer imports a labelmap only into a binary-labelmap one.
    """

    def __init__(self) -> None:
        self.segments: Dict[str, FakeSegment] = {}
        self.parameters: Dict[str, str] = {}
        self.source = FakeSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName()

    def GetSourceRepresentationName(self) -> str:
        return self.source

    def SetSourceRepresentationName(self, name: str) -> None:
        self.source = name

    def AddEmptySegment(self, segment_id: str, name: str, color) -> str:
        self.segments[segment_id] = FakeSegment(name, color)
        return segment_id

    def GetSegment(self, segment_id: str) -> Optional[FakeSegment]:
        return self.segments.get(segment_id)

    def RemoveSegment(self, segment_id: str) -> None:
        del self.segments[segment_id]

    def GetNumberOfSegments(self) -> int:
        return len(self.segments)

    def GetNthSegmentID(self, index: int) -> str:
        return list(self.segments)[index]

    def GetNthSegment(self, index: int) -> FakeSegment:
        return list(self.segments.values())[index]

    def SetConversionParameter(self, name: str, value: str) -> None:
        self.parameters[name] = value

    def GetConversionParameter(self, name: str) -> str:
        return self.parameters.get(name, "")


def serialize_image_geometry(ijk_to_ras: np.ndarray, dimensions) -> str:
    """``vtkSegmentationConverter::SerializeImageGeometry``: 16 matrix elements, 6 extents, each ``;``-terminated."""
    extent = (0, dimensions[0] - 1, 0, dimensions[1] - 1, 0, dimensions[2] - 1)
    return "".join(f"{float(v)!r};" for v in np.asarray(ijk_to_ras).ravel()) + "".join(f"{e};" for e in extent)


class FakeSegmentationNode(FakeNode):
    """A segmentation node; ``masks`` holds each segment's binary labelmap on the reference grid."""

    CLASS = "vtkMRMLSegmentationNode"
    REFERENCE_ROLE = "referenceImageGeometryRef"
    GEOMETRY_PARAMETER = "Reference image geometry"

    def __init__(self, name: str = "Segmentation") -> None:
        super().__init__(name)
        self.segmentation, self.masks, self.display = FakeSegmentation(), {}, None

    def CreateDefaultDisplayNodes(self) -> None:
        if self.display is None:
            self.display = FakeSegmentationDisplayNode(self)

    def GetDisplayNode(self) -> Optional[FakeSegmentationDisplayNode]:
        return self.display

    @classmethod
    def GetReferenceImageGeometryReferenceRole(cls) -> str:
        return cls.REFERENCE_ROLE

    def GetSegmentation(self) -> FakeSegmentation:
        return self.segmentation

    def CopyContent(self, node: FakeNode, deepCopy: bool = True) -> None:
        """vtkMRMLSegmentationNode's CopyContent: also its segments (deep copies) and their masks."""
        super().CopyContent(node, deepCopy)
        self.segmentation = copy.deepcopy(node.segmentation)
        self.masks = {key: mask.copy() for key, mask in node.masks.items()}

    def SetReferenceImageGeometryParameterFromVolumeNode(self, volume: FakeVolumeNode) -> None:
        self.SetNodeReferenceID(self.REFERENCE_ROLE, volume.GetID())
        geometry = serialize_image_geometry(volume.ijk_to_ras, volume.GetImageData().GetDimensions())
        self.segmentation.SetConversionParameter(self.GEOMETRY_PARAMETER, geometry)


NODE_CLASSES = {cls.CLASS: cls for cls in (FakeVolumeNode, FakeVectorVolumeNode, FakeLabelMapVolumeNode, FakeROINode,
                                          FakeSegmentationNode)}


class FakeSubjectHierarchy:
    """vtkMRMLSubjectHierarchyNode: one item per data node (its ``id``), item parents and item attributes."""

    def __init__(self) -> None:
        self.parents: Dict[int, int] = {}
        self.item_attributes: Dict[tuple, str] = {}

    def SetItemAttribute(self, item: int, name: str, value: str) -> None:
        self.item_attributes[(item, name)] = str(value)

    def GetItemAttribute(self, item: int, name: str) -> str:
        """As Slicer's: ``""`` when the item has no such attribute."""
        return self.item_attributes.get((item, name), "")

    def GetItemByDataNode(self, node) -> int:
        return id(node)

    def GetItemParent(self, item: int) -> int:
        return self.parents.get(item, 1)

    def SetItemParent(self, item: int, parent: int) -> None:
        self.parents[item] = parent
