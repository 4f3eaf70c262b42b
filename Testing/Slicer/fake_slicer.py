"""A stand-in for the parts of 3D Slicer the SDSeg module uses, for the tests in Testing/Python.

3D Slicer (its MRML scene, PythonQt, ``slicer.util``, the parameter-node wrapper) cannot be
installed outside Slicer, so ``Testing/Python/test_slicer_ui.py`` and ``test_slicer_logic.py``
run ``SDSeg.py`` and ``SDSegLib`` against this fake. Only what cannot exist here is faked: Qt is
the real PySide6, VTK objects (``vtkImageData``, ``vtkMatrix4x4``) are real, and the engine is the
real engine process. Where the module depends on a Slicer behaviour the fake copies it:

* ``slicer.util.tryWithErrorDisplay`` shows the error and then *re-raises* it, as Slicer's does;
* PythonQt's attribute access to Qt properties (``button.enabled = False``, ``label.text``) is
  provided by :class:`PythonQtObject` around the PySide6 widgets;
* ``parameterNodeWrapper``: typed fields with defaults, a ``ModifiedEvent`` on every change and
  ``connectGui`` for spin boxes and node selectors (both directions);
* segmentation nodes keep one binary mask per segment on the reference volume's grid, and their
  reference geometry string has the format of ``vtkSegmentationConverter::SerializeImageGeometry``;
* the subject hierarchy has one item per data node, with parents and item attributes
  (``SetItemAttribute``/``GetItemAttribute``, ``""`` when unset), where Slicer's DICOM import
  stores a series' ``DICOM.Modality``;
* PythonQt's ``qt`` module is PySide6's classes, except ``qt.QSettings`` (Slicer's settings file),
  which writes to a private temporary ini file per :func:`install`, and ``qt.QDesktopServices``,
  which records the URLs it is asked to open (``FakeSlicer.opened_urls``) instead of starting a
  file browser; ``slicer.util.errorDisplay`` records the text and its ``detailedText``.

The in-Slicer test (``SDSegTest`` in SDSeg.py, run by ``run_sdseg_test.py``) checks the real thing.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import sys
import tempfile
import types
import unittest
import weakref
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import vtk

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

    def GetID(self) -> str:
        return self.id

    def GetName(self) -> str:
        return self.name

    def SetName(self, name: str) -> None:
        self.name = name

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

    def StartModify(self) -> int:
        self.modify_depth += 1
        return 0

    def EndModify(self, _was: int) -> None:
        self.modify_depth -= 1


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

    def GetColor(self):
        return self.color

    def SetTag(self, key: str, value: str) -> None:
        self.tags[key] = value

    def GetTag(self, key: str) -> Optional[str]:
        return self.tags.get(key)

    @staticmethod
    def GetTerminologyEntryTagName() -> str:
        return "TerminologyEntry"


class FakeSegmentation:
    """vtkSegmentation: ordered segments and conversion parameters."""

    def __init__(self) -> None:
        self.segments: Dict[str, FakeSegment] = {}
        self.parameters: Dict[str, str] = {}

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
        self.segmentation, self.masks = FakeSegmentation(), {}

    @classmethod
    def GetReferenceImageGeometryReferenceRole(cls) -> str:
        return cls.REFERENCE_ROLE

    def GetSegmentation(self) -> FakeSegmentation:
        return self.segmentation

    def SetReferenceImageGeometryParameterFromVolumeNode(self, volume: FakeVolumeNode) -> None:
        self.SetNodeReferenceID(self.REFERENCE_ROLE, volume.GetID())
        geometry = serialize_image_geometry(volume.ijk_to_ras, volume.GetImageData().GetDimensions())
        self.segmentation.SetConversionParameter(self.GEOMETRY_PARAMETER, geometry)


NODE_CLASSES = {cls.CLASS: cls for cls in (FakeVolumeNode, FakeROINode, FakeSegmentationNode)}


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


class FakeScene(Observable):
    """vtkMRMLScene: nodes by id, unique names, close events, the parameter nodes of modules."""

    StartCloseEvent, EndCloseEvent = "StartCloseEvent", "EndCloseEvent"

    def __init__(self) -> None:
        super().__init__()
        self.nodes: Dict[str, FakeNode] = {}
        self.parameter_nodes: Dict[str, FakeNode] = {}
        self.subject_hierarchy = FakeSubjectHierarchy()

    def AddNode(self, node: FakeNode) -> FakeNode:
        node.scene = self
        self.nodes[node.GetID()] = node
        return node

    def AddNewNodeByClass(self, class_name: str, name: str = "") -> FakeNode:
        return self.AddNode(NODE_CLASSES[class_name](name))

    def GetNodeByID(self, node_id: Optional[str]) -> Optional[FakeNode]:
        return self.nodes.get(node_id) if node_id else None

    def GetFirstNodeByClass(self, class_name: str) -> Optional[FakeNode]:
        return next((n for n in self.nodes.values() if n.IsA(class_name)), None)

    def GetNodesByClass(self, class_name: str) -> List[FakeNode]:
        return [n for n in self.nodes.values() if n.IsA(class_name)]

    def RemoveNode(self, node: FakeNode) -> None:
        self.nodes.pop(node.GetID(), None)

    def GenerateUniqueName(self, base: str) -> str:
        names = {n.GetName() for n in self.nodes.values()}
        if base not in names:
            return base
        return next(f"{base}_{i}" for i in itertools.count(1) if f"{base}_{i}" not in names)

    def GetSubjectHierarchyNode(self) -> FakeSubjectHierarchy:
        return self.subject_hierarchy

    def Clear(self) -> None:
        """Close the scene: StartCloseEvent, every node removed, EndCloseEvent."""
        self.InvokeEvent(self.StartCloseEvent)
        self.nodes.clear()
        self.parameter_nodes.clear()
        self.InvokeEvent(self.EndCloseEvent)


# ---------------------------------------------------------------------- PythonQt-style widgets
class PythonQtObject:
    """PythonQt's view of a QObject: Qt properties are read and written as attributes.

    Writing a name that is not a Qt property raises, so a typo in SDSeg.py fails the test
    instead of silently setting a Python attribute.
    """

    __slots__ = ("_qobject",)

    def __init__(self, qobject) -> None:
        object.__setattr__(self, "_qobject", qobject)

    @property
    def qobject(self):
        return object.__getattribute__(self, "_qobject")

    def __getattr__(self, name: str) -> Any:
        obj = object.__getattribute__(self, "_qobject")
        if obj.metaObject().indexOfProperty(name) >= 0:
            return obj.property(name)
        return getattr(obj, name)

    def __setattr__(self, name: str, value: Any) -> None:
        obj = object.__getattribute__(self, "_qobject")
        if obj.metaObject().indexOfProperty(name) < 0 or not obj.setProperty(name, value):
            raise AttributeError(f"{type(obj).__name__} {obj.objectName()!r} has no writable Qt property {name!r}")


def child_widget_variables(widget) -> types.SimpleNamespace:
    """``slicer.util.childWidgetVariables``: every named child, PythonQt-style."""
    from PySide6.QtWidgets import QWidget

    children = {w.objectName(): PythonQtObject(w) for w in widget.findChildren(QWidget) if w.objectName()}
    return types.SimpleNamespace(**children)


# ---------------------------------------------------------------------- parameter node wrapper
def parameter_node_wrapper(cls: type) -> type:
    """``slicer.parameterNodeWrapper``: the annotated fields of ``cls`` stored on a scripted-module node."""
    defaults = {name: getattr(cls, name, None) for name in cls.__annotations__}

    class Wrapped:
        __doc__ = cls.__doc__
        _defaults = defaults

        def __init__(self, node: FakeNode) -> None:
            object.__setattr__(self, "parameterNode", node)
            for name, value in defaults.items():
                node.values.setdefault(name, value)

        def __getattr__(self, name: str) -> Any:
            if name in defaults:
                return object.__getattribute__(self, "parameterNode").values[name]
            raise AttributeError(name)

        def __setattr__(self, name: str, value: Any) -> None:
            if name not in defaults:
                raise AttributeError(f"{cls.__name__} has no parameter {name!r}")
            node = self.parameterNode
            if node.values[name] is not value and node.values[name] != value:
                node.values[name] = value
                node.Modified()

        def AddObserver(self, event: Any, callback: Callable, priority: float = 0.0) -> int:
            return self.parameterNode.AddObserver(event, callback)

        def RemoveObserver(self, tag: int) -> None:
            self.parameterNode.RemoveObserver(tag)

        def connectGui(self, ui: types.SimpleNamespace) -> list:
            return _connect_gui(self, ui)

        def disconnectGui(self, tag: Optional[list]) -> None:
            for disconnect in tag or []:
                disconnect()

    Wrapped.__name__ = Wrapped.__qualname__ = cls.__name__
    return Wrapped


def _connect_gui(wrapper: Any, ui: types.SimpleNamespace) -> list:
    """Two-way binding of every widget that names a parameter; returns the disconnect callbacks."""
    bindings = []
    for proxy in vars(ui).values():
        widget = proxy.qobject
        name = widget.property("SlicerParameterName")
        if name:
            is_node = hasattr(widget, "setCurrentNode")
            signal = widget.currentNodeChanged if is_node else widget.valueChanged
            setter = widget.setCurrentNode if is_node else widget.setValue
            bindings.append((widget, name, signal, setter))

    def to_gui(*_args: Any) -> None:
        for widget, name, _signal, setter in bindings:
            blocked = widget.blockSignals(True)
            setter(getattr(wrapper, name))
            widget.blockSignals(blocked)

    disconnects = []
    for widget, name, signal, _setter in bindings:
        slot = (lambda value, n=name: setattr(wrapper, n, value))
        signal.connect(slot)
        disconnects.append(lambda s=signal, f=slot: s.disconnect(f))
    to_gui()
    tag = wrapper.AddObserver(vtk.vtkCommand.ModifiedEvent, to_gui)
    return disconnects + [lambda: wrapper.RemoveObserver(tag)]


# ---------------------------------------------------------------------- the slicer module
class VTKObservationMixin:
    """``slicer.util.VTKObservationMixin``: observers remembered per (object, event, method)."""

    def __init__(self) -> None:
        self.Observations: List[tuple] = []

    def addObserver(self, obj: Any, event: Any, method: Callable, priority: float = 0.0, group: str = "none") -> None:
        self.Observations.append((obj, event, method, obj.AddObserver(event, method, priority)))

    def removeObserver(self, obj: Any, event: Any, method: Callable) -> None:
        for entry in [o for o in self.Observations if o[0] is obj and o[1] == event and o[2] == method]:
            obj.RemoveObserver(entry[3])
            self.Observations.remove(entry)

    def removeObservers(self, method: Optional[Callable] = None) -> None:
        for entry in [o for o in self.Observations if method is None or o[2] == method]:
            entry[0].RemoveObserver(entry[3])
            self.Observations.remove(entry)


class FakeSlicer(types.ModuleType):
    """The ``slicer`` module. ``errors`` lists every error shown to the user (dialogs)."""

    def __init__(self, load_ui: Optional[Callable[[str], Any]] = None) -> None:
        super().__init__("slicer")
        self.errors: List[str] = []
        self.error_details: List[str] = []  # the detailedText of each error dialog ("" when none)
        self.opened_urls: List[str] = []  # what qt.QDesktopServices.openUrl was asked to open
        self.mrmlScene = FakeScene()
        self.app = types.SimpleNamespace(connect=lambda *a: None, testingEnabled=lambda: True, applicationVersion="5.8.1 (fake)")
        self.vtkMRMLSegmentationNode = FakeSegmentationNode
        self.vtkMRMLScalarVolumeNode, self.vtkMRMLMarkupsROINode = FakeVolumeNode, FakeROINode
        self.vtkMRMLVectorVolumeNode = type("vtkMRMLVectorVolumeNode", (FakeVolumeNode,), {"CLASS": "vtkMRMLVectorVolumeNode"})
        self.vtkSegmentationConverter = types.SimpleNamespace(
            GetReferenceImageGeometryParameterName=lambda: FakeSegmentationNode.GEOMETRY_PARAMETER)
        self.vtkMRMLTransformNode = types.SimpleNamespace(GetTransformBetweenNodes=lambda a, b, transform: None)
        self.vtkMRMLSubjectHierarchyNode = types.SimpleNamespace(GetSubjectHierarchyNode=lambda scene: scene.subject_hierarchy)
        self.util = self._util_module(load_ui)

    def _util_module(self, load_ui: Optional[Callable[[str], Any]]) -> types.ModuleType:
        util = types.ModuleType("slicer.util")
        util.tryWithErrorDisplay = self._try_with_error_display
        util.errorDisplay = self._error_display
        util.confirmOkCancelDisplay = lambda *a, **k: True
        util.loadUI = load_ui
        util.childWidgetVariables = child_widget_variables
        util.VTKObservationMixin = VTKObservationMixin
        util.updateSegmentBinaryLabelmapFromArray = self._update_segment
        util.arrayFromSegmentBinaryLabelmap = self._segment_array
        return util

    def _error_display(self, text: str, windowTitle: Optional[str] = None, parent: Any = None, standardButtons: Any = None,
                       **kwargs: Any) -> None:
        """As Slicer's: keyword arguments such as ``detailedText`` become properties of the message box."""
        self.errors.append(str(text))
        self.error_details.append(str(kwargs.get("detailedText") or ""))

    @contextlib.contextmanager
    def _try_with_error_display(self, message: Optional[str] = None, show: bool = True, waitCursor: bool = False):
        """As Slicer's: show the error in a dialog, then re-raise it."""
        try:
            yield
        except Exception as exc:
            if show:
                self.errors.append(f"{message}\n{exc}" if message else str(exc))
                self.error_details.append("")
            raise

    @staticmethod
    def _update_segment(mask: np.ndarray, node: FakeSegmentationNode, segment_id: str, reference: FakeVolumeNode) -> None:
        dims = reference.GetImageData().GetDimensions()
        assert mask.shape == (dims[2], dims[1], dims[0]) and node.GetSegmentation().GetSegment(segment_id) is not None
        node.masks[segment_id] = np.array(mask, copy=True)

    @staticmethod
    def _segment_array(node: FakeSegmentationNode, segment_id: str, reference: FakeVolumeNode) -> np.ndarray:
        dims = reference.GetImageData().GetDimensions()
        return np.array(node.masks.get(segment_id, np.zeros((dims[2], dims[1], dims[0]), np.uint8)), copy=True)


class _ModulePanel:
    """The widget's ``parent``: a QWidget with a vertical layout, entered."""

    def __init__(self) -> None:
        from PySide6.QtWidgets import QVBoxLayout, QWidget

        self.widget = QWidget()
        self._layout = QVBoxLayout(self.widget)
        self.isEntered = True

    def layout(self):
        return self._layout


def scripted_loadable_module(slicer_module: FakeSlicer) -> types.ModuleType:
    """``slicer.ScriptedLoadableModule`` with the four base classes."""
    module = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule:
        def __init__(self, parent: Any) -> None:
            self.parent = parent

    class ScriptedLoadableModuleWidget:
        def __init__(self, parent: Any = None) -> None:
            self.parent = parent if parent is not None else _ModulePanel()
            self.layout = self.parent.layout()

        def resourcePath(self, filename: str) -> str:
            module_file = sys.modules[type(self).__module__].__file__
            return os.path.join(os.path.dirname(module_file), "Resources", filename)

        def setup(self) -> None:
            pass

    class ScriptedLoadableModuleLogic:
        def __init__(self, parent: Any = None) -> None:
            self.moduleName = type(self).__name__.replace("Logic", "")

        def getParameterNode(self) -> FakeNode:
            nodes = slicer_module.mrmlScene.parameter_nodes
            if self.moduleName not in nodes:
                nodes[self.moduleName] = FakeNode(f"{self.moduleName} parameters")
                nodes[self.moduleName].values = {}
            return nodes[self.moduleName]

    module.ScriptedLoadableModule, module.ScriptedLoadableModuleWidget = ScriptedLoadableModule, ScriptedLoadableModuleWidget
    module.ScriptedLoadableModuleLogic, module.ScriptedLoadableModuleTest = ScriptedLoadableModuleLogic, unittest.TestCase
    return module


def qt_module(fake: FakeSlicer) -> types.ModuleType:
    """PythonQt's ``qt``: PySide6 classes, a private settings file and a recording QDesktopServices."""
    from PySide6 import QtCore, QtWidgets

    folder = tempfile.mkdtemp(prefix="fake-slicer-settings-")
    weakref.finalize(fake, shutil.rmtree, folder, True)
    settings_file = os.path.join(folder, "Slicer.ini")

    class QSettings(QtCore.QSettings):
        """Slicer's application settings, in this fake's own ini file (never the user's)."""

        def __init__(self) -> None:
            super().__init__(settings_file, QtCore.QSettings.IniFormat)

    class QDesktopServices:
        """Records the URL instead of opening a file browser."""

        @staticmethod
        def openUrl(url: Any) -> bool:
            fake.opened_urls.append(url.toLocalFile() if url.isLocalFile() else url.toString())
            return True

    qt = types.ModuleType("qt")
    qt.QTimer, qt.QUrl, qt.Qt, qt.QSettings = QtCore.QTimer, QtCore.QUrl, QtCore.Qt, QSettings
    qt.QApplication, qt.QFileDialog, qt.QDesktopServices = QtWidgets.QApplication, QtWidgets.QFileDialog, QDesktopServices
    return qt


def install(monkeypatch: Any, load_ui: Optional[Callable[[str], Any]] = None) -> FakeSlicer:
    """Put the fake ``slicer`` (and PythonQt's ``qt``) into ``sys.modules`` for one test.

    SDSeg's modules that import ``slicer`` at import time are dropped from ``sys.modules`` so that
    they are imported again against this fake (and again after the test).
    """
    fake = FakeSlicer(load_ui)
    i18n = types.ModuleType("slicer.i18n")
    i18n.tr, i18n.translate = (lambda text: text), (lambda context, text: text)
    pnw = types.ModuleType("slicer.parameterNodeWrapper")
    pnw.parameterNodeWrapper, pnw.Choice, pnw.WithinRange = parameter_node_wrapper, (lambda values: values), (lambda a, b: (a, b))
    qt = qt_module(fake)
    fake.i18n, fake.parameterNodeWrapper = i18n, pnw
    fake.ScriptedLoadableModule = scripted_loadable_module(fake)
    modules = {"slicer": fake, "slicer.util": fake.util, "slicer.i18n": i18n, "slicer.parameterNodeWrapper": pnw,
               "slicer.ScriptedLoadableModule": fake.ScriptedLoadableModule, "qt": qt}
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    for name in ("SDSeg", "SDSegLib.module_logic", "SDSegLib.parameter_node", "SDSegLib.panel_state", "SDSegLib.model_panel",
                 "SDSegLib.panel_actions"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return fake
