"""A stand-in for the parts of 3D Slicer the SDSeg module uses, for the tests in Testing/Python.

3D Slicer (its MRML scene, PythonQt, ``slicer.util``, the parameter-node wrapper) cannot be
installed outside Slicer, so ``Testing/Python/test_slicer_widget.py`` and ``test_slicer_logic.py``
run ``SDSeg.py`` and ``SDSegLib`` against this fake (the MRML node classes are in
``fake_slicer_nodes.py``, PythonQt, ``qt`` and the parameter-node wrapper in ``fake_slicer_pythonqt.py``;
both re-exported here). Only what cannot exist here is faked: Qt is
the real PySide6, VTK objects (``vtkImageData``, ``vtkMatrix4x4``) are real, and the engine is the
real engine process. Where the module depends on a Slicer behaviour the fake copies it:

* ``slicer.util.tryWithErrorDisplay`` shows the error and then *re-raises* it, as Slicer's does;
* PythonQt's attribute access to Qt properties (``button.enabled = False``, ``label.text``) is
  provided by :class:`PythonQtObject` around the PySide6 widgets;
* ``parameterNodeWrapper``: typed fields with defaults, a ``ModifiedEvent`` on every change and
  ``connectGui`` for spin boxes, check boxes (``stateChanged``, as Slicer's bool connector) and
  node selectors (both directions);
* ``slicer.modules.sequences.logic()`` and the sequence / sequence-browser nodes are in
  ``fake_slicer_sequences.py`` (4D volumes browsed in the Sequences module);
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
import sys
import types
import unittest
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from fake_slicer_nodes import (  # noqa: F401 - re-exported: tests use fake_slicer.FakeVolumeNode etc.
    NODE_CLASSES, FakeNode, FakeROINode, FakeSegment, FakeSegmentation, FakeSegmentationConverter, FakeSegmentationNode,
    FakeSegmentationsModuleLogic, FakeSubjectHierarchy, FakeVectorVolumeNode, FakeVolumeNode, Observable, serialize_image_geometry,
)
from fake_slicer_pythonqt import PythonQtObject, child_widget_variables, parameter_node_wrapper, qt_module  # noqa: F401 - re-exported
from fake_slicer_sequences import NODE_CLASSES as SEQUENCE_NODE_CLASSES, FakeSequencesLogic  # Sequences module

NODE_CLASSES = {**NODE_CLASSES, **SEQUENCE_NODE_CLASSES}


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

    def ImportParameterNodes(self, saved: Dict[str, Dict[str, Any]]) -> None:
        """Load a saved scene's module parameter nodes (module name -> saved values).

        As ``vtkMRMLScene::Import`` does with singleton nodes: a module's existing parameter node is
        kept and takes the saved content, with one ModifiedEvent; a missing one is added.
        """
        for module, values in saved.items():
            node = self.parameter_nodes.get(module)
            if node is None:
                node = self.parameter_nodes[module] = FakeNode(f"{module} parameters")
                node.values = {}
            node.values.update(values)
            node.Modified()

    def Clear(self) -> None:
        """Close the scene: StartCloseEvent, every node removed, EndCloseEvent."""
        self.InvokeEvent(self.StartCloseEvent)
        self.nodes.clear()
        self.parameter_nodes.clear()
        self.InvokeEvent(self.EndCloseEvent)


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
        self.vtkMRMLSegmentationNode, self.vtkSlicerSegmentationsModuleLogic = FakeSegmentationNode, FakeSegmentationsModuleLogic
        self.vtkMRMLScalarVolumeNode, self.vtkMRMLMarkupsROINode = FakeVolumeNode, FakeROINode
        self.vtkMRMLVectorVolumeNode = FakeVectorVolumeNode
        self.vtkSegmentationConverter = FakeSegmentationConverter
        self.vtkMRMLTransformNode = types.SimpleNamespace(GetTransformBetweenNodes=lambda a, b, transform: None)
        self.vtkMRMLSubjectHierarchyNode = types.SimpleNamespace(GetSubjectHierarchyNode=lambda scene: scene.subject_hierarchy)
        self.util = self._util_module(load_ui)
        self.modules = types.SimpleNamespace(sequences=types.SimpleNamespace(logic=lambda: FakeSequencesLogic(self.mrmlScene)))

    def _util_module(self, load_ui: Optional[Callable[[str], Any]]) -> types.ModuleType:
        util = types.ModuleType("slicer.util")
        util.tryWithErrorDisplay = self._try_with_error_display
        util.errorDisplay = self._error_display
        util.confirmOkCancelDisplay = lambda *a, **k: True
        util.loadUI, util.childWidgetVariables = load_ui, child_widget_variables
        util.getNodesByClass = lambda className, scene=None: (scene or self.mrmlScene).GetNodesByClass(className)  # scene order
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
        if node.GetSegmentation().GetSourceRepresentationName() != FakeSegmentationConverter.GetBinaryLabelmapRepresentationName():
            raise RuntimeError("Importing of segment failed.")  # as Slicer's: no labelmap into a closed-surface segmentation
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
                 "SDSegLib.panel_actions", "SDSegLib.job_end"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return fake
