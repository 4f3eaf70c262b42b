"""The fake Sequences module of ``fake_slicer.py``: sequence and sequence-browser nodes, the module logic.

3D Slicer cannot exist here, so this stands in for the parts of Slicer's Sequences module that
SDSeg's "All time points" uses, with the same method names and behaviour as Slicer 5.x
(``Libs/MRML/Core/vtkMRMLSequenceNode.h``, ``Modules/Loadable/Sequences/MRML/vtkMRMLSequenceBrowserNode.{h,cxx}``,
``Modules/Loadable/Sequences/Logic/vtkSlicerSequencesLogic.h`` in the Slicer repository):

* a sequence node keeps *deep copies* of the nodes given to ``SetDataNodeAtValue``, outside the
  scene (Slicer keeps them in the sequence's own scene), ordered by numeric index value;
* a browser node browses a master sequence and synchronized ones, each with its proxy node;
  ``AddProxyNode(proxy, sequence, copy=False)`` adds the sequence for synchronized browsing when
  it is not yet and makes ``proxy`` its proxy (``copy=True`` is not needed by SDSeg: refused);
* selecting an item (``SetSelectedItemNumber``) copies each sequence's item at the master's index
  value into its proxy, as Slicer's logic does on the browser's Modified event
  (``UpdateProxyNodesFromSequences``): a volume gets the item's voxels and IJK->RAS matrix, a
  segmentation its segments, masks, reference geometry and attributes; the proxy keeps its own
  id, name, node references and parent transform; ``SetSelectedItemByIndexValue`` selects by value;
* a modified proxy node (its ``ModifiedEvent``, e.g. at the end of a ``StartModify``/``EndModify``
  write) whose sequence has *save changes* on is copied into that sequence's item at the master
  sequence's **selected** index value (``vtkSlicerSequencesLogic::UpdateSequencesFromProxyNodes``),
  except while the browser plays (``SetPlaybackActive(True)``: Slicer ignores proxy changes then)
  or once the browser is removed from the scene (the logic no longer observes it).
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

import vtk

from fake_slicer_nodes import FakeNode, FakeSegmentationNode, FakeVolumeNode


def _copy_content(target: FakeNode, source: FakeNode) -> None:
    """vtkMRMLNode::CopyContent: the data, not the id, name, references or parent transform."""
    target.attributes = dict(source.attributes)
    if isinstance(source, FakeVolumeNode):
        image = None
        if source.image is not None:
            image = vtk.vtkImageData()
            image.DeepCopy(source.image)
        target.image, target.ijk_to_ras = image, source.ijk_to_ras.copy()
    elif isinstance(source, FakeSegmentationNode):
        target.segmentation = copy.deepcopy(source.segmentation)
        target.masks = {key: mask.copy() for key, mask in source.masks.items()}


def _deep_copy(node: FakeNode) -> FakeNode:
    """A new node of the same class outside any scene, with the same name, content and references."""
    twin = type(node)(node.GetName())
    _copy_content(twin, node)
    twin.references = dict(node.references)
    twin.transform_id = node.transform_id
    return twin


class FakeSequenceNode(FakeNode):
    """vtkMRMLSequenceNode: data nodes by index value (numeric index: sorted by value)."""

    CLASS = "vtkMRMLSequenceNode"

    def __init__(self, name: str = "Sequence") -> None:
        super().__init__(name)
        self.items: List[tuple] = []  # (index value, data node)
        self.index_name, self.index_unit, self.index_type = "time", "s", 0

    def GetIndexName(self) -> str:
        return self.index_name

    def SetIndexName(self, name: str) -> None:
        self.index_name = name

    def GetIndexUnit(self) -> str:
        return self.index_unit

    def SetIndexUnit(self, unit: str) -> None:
        self.index_unit = unit

    def CopySequenceIndex(self, other: "FakeSequenceNode") -> None:
        """Index name, unit and type, not the data nodes."""
        self.index_name, self.index_unit, self.index_type = other.index_name, other.index_unit, other.index_type

    def _position(self, value: str) -> Optional[int]:
        for number, (existing, _node) in enumerate(self.items):
            if existing == value or (self.index_type == 0 and abs(float(existing) - float(value)) < 0.001):
                return number
        return None

    def SetDataNodeAtValue(self, node: FakeNode, value: str) -> FakeNode:
        """Add (or replace) a deep copy of ``node`` at ``value``; returns the copy."""
        twin, value = _deep_copy(node), str(value)
        number = self._position(value)
        if number is not None:
            self.items[number] = (value, twin)
        else:
            self.items.append((value, twin))
            if self.index_type == 0:
                self.items.sort(key=lambda entry: float(entry[0]))
        self.Modified()
        return twin

    def RemoveAllDataNodes(self) -> None:
        self.items.clear()
        self.Modified()

    def GetNumberOfDataNodes(self) -> int:
        return len(self.items)

    def GetNthDataNode(self, number: int) -> Optional[FakeNode]:
        return self.items[number][1] if 0 <= number < len(self.items) else None

    def GetNthIndexValue(self, number: int) -> str:
        return self.items[number][0] if 0 <= number < len(self.items) else ""

    def GetDataNodeAtValue(self, value: str, exactMatchRequired: bool = True) -> Optional[FakeNode]:
        number = self._position(str(value))
        return self.items[number][1] if number is not None else None


class FakeSequenceBrowserNode(FakeNode):
    """vtkMRMLSequenceBrowserNode: the master sequence first, then the synchronized ones; a proxy per sequence."""

    CLASS = "vtkMRMLSequenceBrowserNode"

    def __init__(self, name: str = "SequenceBrowser") -> None:
        super().__init__(name)
        self.sequences: List[FakeSequenceNode] = []
        self.proxies: Dict[str, FakeNode] = {}  # sequence id -> proxy node
        self.save_changes: Dict[str, bool] = {}
        self.selected = -1
        self.playback_active = False
        self._proxy_tags: Dict[str, tuple] = {}  # sequence id -> (proxy, observer tag)

    def SetAndObserveMasterSequenceNodeID(self, sequence_id: str) -> None:
        self.sequences = [self.scene.GetNodeByID(sequence_id)]
        self.selected = 0 if self.GetNumberOfItems() else -1

    def GetMasterSequenceNode(self) -> Optional[FakeSequenceNode]:
        return self.sequences[0] if self.sequences else None

    def AddSynchronizedSequenceNode(self, sequence: FakeSequenceNode) -> str:
        if sequence not in self.sequences:
            self.sequences.append(sequence)
        return str(self.sequences.index(sequence))

    def IsSynchronizedSequenceNode(self, sequence: FakeSequenceNode, includeMasterNode: bool = False) -> bool:
        return sequence in self.sequences[(0 if includeMasterNode else 1):]

    def AddProxyNode(self, proxy: FakeNode, sequence: FakeSequenceNode, copy: bool = True) -> FakeNode:
        if copy:
            raise NotImplementedError("the fake browser makes the given node the proxy (copy=False) only")
        self.AddSynchronizedSequenceNode(sequence)
        self.proxies[sequence.GetID()] = proxy
        if sequence.GetID() in self._proxy_tags:
            old, tag = self._proxy_tags.pop(sequence.GetID())
            old.RemoveObserver(tag)
        tag = proxy.AddObserver(vtk.vtkCommand.ModifiedEvent, lambda caller, event: self._proxy_modified(caller))
        self._proxy_tags[sequence.GetID()] = (proxy, tag)
        return proxy

    def _proxy_modified(self, proxy: FakeNode) -> None:
        """ProxyNodeModifiedEvent, handled by the Sequences logic while this browser is in the scene."""
        if self.scene is not None and self.scene.GetNodeByID(self.GetID()) is self:
            FakeSequencesLogic(self.scene).UpdateSequencesFromProxyNodes(self, proxy)

    def GetProxyNode(self, sequence: FakeSequenceNode) -> Optional[FakeNode]:
        return self.proxies.get(sequence.GetID())

    def GetSequenceNode(self, proxy: FakeNode) -> Optional[FakeSequenceNode]:
        return next((s for s in self.sequences if self.proxies.get(s.GetID()) is proxy), None)

    def SetSaveChanges(self, sequence: FakeSequenceNode, save: bool) -> None:
        self.save_changes[sequence.GetID()] = bool(save)

    def GetSaveChanges(self, sequence: FakeSequenceNode) -> bool:
        return self.save_changes.get(sequence.GetID(), False)

    def GetNumberOfItems(self) -> int:
        master = self.GetMasterSequenceNode()
        return master.GetNumberOfDataNodes() if master is not None else 0

    def GetSelectedItemNumber(self) -> int:
        return self.selected

    def SetSelectedItemNumber(self, number: int) -> None:
        """Select an item; the proxies then show it (Slicer's logic reacts to the browser's Modified event)."""
        self.selected = int(number)
        FakeSequencesLogic(self.scene).UpdateProxyNodesFromSequences(self)
        self.Modified()

    def SetSelectedItemByIndexValue(self, value: str, exactMatchRequired: bool = True) -> bool:
        """Select the master sequence's item at ``value``; False (nothing changes) when it has none."""
        master = self.GetMasterSequenceNode()
        number = master._position(str(value)) if master is not None else None
        if number is None:
            return False
        self.SetSelectedItemNumber(number)
        return True

    def GetPlaybackActive(self) -> bool:
        return self.playback_active

    def SetPlaybackActive(self, active: bool) -> None:
        """Start or stop playback (the fake does not advance items by itself)."""
        self.playback_active = bool(active)
        self.Modified()


class FakeSequencesLogic:
    """vtkSlicerSequencesLogic: which browser shows a proxy node; proxies updated from the selected item."""

    def __init__(self, scene: Any) -> None:
        self.scene = scene

    def GetFirstBrowserNodeForProxyNode(self, proxy: FakeNode) -> Optional[FakeSequenceBrowserNode]:
        browsers = self.scene.GetNodesByClass(FakeSequenceBrowserNode.CLASS)
        return next((b for b in browsers if b.GetSequenceNode(proxy) is not None), None)

    def UpdateSequencesFromProxyNodes(self, browser: FakeSequenceBrowserNode, proxy: FakeNode) -> None:
        """Save a modified proxy into its sequence's item at the selected index value (save changes on, not playing)."""
        master, sequence = browser.GetMasterSequenceNode(), browser.GetSequenceNode(proxy)
        if browser.playback_active or master is None or sequence is None or not browser.GetSaveChanges(sequence):
            return
        if not 0 <= browser.selected < master.GetNumberOfDataNodes():
            return
        item = sequence.GetDataNodeAtValue(master.GetNthIndexValue(browser.selected))
        if item is not None:
            _copy_content(item, proxy)  # vtkMRMLSequenceNode::UpdateDataNodeAtValue

    def UpdateProxyNodesFromSequences(self, browser: FakeSequenceBrowserNode) -> None:
        master = browser.GetMasterSequenceNode()
        if master is None or not 0 <= browser.selected < master.GetNumberOfDataNodes():
            return
        value = master.GetNthIndexValue(browser.selected)
        for sequence in browser.sequences:
            proxy, item = browser.GetProxyNode(sequence), sequence.GetDataNodeAtValue(value)
            if proxy is not None and item is not None:
                _copy_content(proxy, item)


NODE_CLASSES = {cls.CLASS: cls for cls in (FakeSequenceNode, FakeSequenceBrowserNode)}
