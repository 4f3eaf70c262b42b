"""Shared helpers of test_slicer_ui.py and test_slicer_widget.py: Slicer widget stand-ins, the .ui loader, the widget fixtures.

Slicer's own widget classes (qMRMLNodeComboBox, ctkCollapsibleButton, ...) do not exist outside
Slicer, so these *preview stand-ins* have the same class names and the Qt properties the .ui sets;
they draw roughly like Slicer's widgets so that the screenshot is representative. The widget
fixtures set SDSegWidget up against Testing/Slicer/fake_slicer.py (3D Slicer's MRML scene, PythonQt
and slicer.util cannot exist outside Slicer) with a real engine and a tiny random-weight model.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

QtWidgets = pytest.importorskip("PySide6.QtWidgets")
from PySide6.QtCore import Property, QFile, QRect, Qt, Signal  # noqa: E402
from PySide6.QtGui import QColor, QFont, QPainter, QPalette  # noqa: E402
from PySide6.QtUiTools import QUiLoader  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "SDSegExtension"
UI_FILE = MODULE / "Resources" / "UI" / "SDSeg.ui"
HEADER = 26
sys.path.insert(0, str(MODULE))
sys.path.insert(0, str(REPO / "Testing" / "Slicer"))  # fake_slicer: MRML cannot exist outside 3D Slicer


# ---------------------------------------------------------------------- preview stand-ins
class qMRMLWidget(QtWidgets.QWidget):
    """Preview stand-in for Slicer's qMRMLWidget (a plain container that passes the scene on)."""

    def setMRMLScene(self, scene):
        for selector in self.findChildren(qMRMLNodeComboBox):
            selector.setMRMLScene(scene)


class ctkCollapsibleButton(QtWidgets.QWidget):
    """Preview stand-in for CTK's collapsible section: a button-like header over its contents."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._text, self._collapsed = "", False
        self.setContentsMargins(4, HEADER + 4, 4, 2)

    def getText(self):
        return self._text

    def setText(self, text):
        self._text = text

    def isCollapsed(self):
        return self._collapsed

    def setCollapsed(self, collapsed):
        self._collapsed = bool(collapsed)
        for child in self.findChildren(QtWidgets.QWidget, options=Qt.FindDirectChildrenOnly):
            child.setVisible(not self._collapsed)
        self.setMaximumHeight(HEADER + 2 if self._collapsed else 16777215)

    text = Property(str, getText, setText)
    collapsed = Property(bool, isCollapsed, setCollapsed)

    def showEvent(self, event):
        self.setCollapsed(self._collapsed)
        super().showEvent(event)

    def paintEvent(self, event):
        painter = QPainter(self)
        option = QtWidgets.QStyleOptionButton()
        option.initFrom(self)
        option.rect = QRect(0, 0, self.width(), HEADER)
        self.style().drawControl(QtWidgets.QStyle.CE_PushButton, option, painter, self)
        arrow = QtWidgets.QStyleOption()
        arrow.initFrom(self)
        arrow.rect = QRect(8, 7, 12, 12)
        self.style().drawPrimitive(QtWidgets.QStyle.PE_IndicatorArrowRight if self._collapsed else QtWidgets.QStyle.PE_IndicatorArrowDown,
                                   arrow, painter, self)
        painter.drawText(QRect(26, 0, self.width() - 30, HEADER), Qt.AlignVCenter | Qt.AlignLeft, self._text)
        if not self._collapsed:
            painter.setPen(QColor(190, 190, 190))
            painter.drawRect(0, HEADER, self.width() - 1, self.height() - HEADER - 1)


class qMRMLNodeComboBox(QtWidgets.QComboBox):
    """Preview stand-in for Slicer's node selector; shows a node name or the 'none' text.

    Like the real one it has a current node (``currentNode``/``setCurrentNode``) and emits
    ``currentNodeChanged(node)``, so the widget tests can select nodes of the fake scene.
    """

    currentNodeChanged = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._node, self._scene = None, None
        # like qMRMLNodeComboBox's inner combo box: long node names do not widen the panel
        self.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        self._props = {"nodeTypes": [], "showChildNodeTypes": True, "noneEnabled": False, "addEnabled": True,
                       "removeEnabled": True, "renameEnabled": False, "noneDisplay": "None", "baseName": ""}

    def _get(name):
        return lambda self: self._props[name]

    def _set(name):
        def setter(self, value):
            self._props[name] = value
            if name == "noneDisplay":
                self.clear()
                self.addItem(value)
        return setter

    nodeTypes = Property("QStringList", _get("nodeTypes"), _set("nodeTypes"))
    showChildNodeTypes = Property(bool, _get("showChildNodeTypes"), _set("showChildNodeTypes"))
    noneEnabled = Property(bool, _get("noneEnabled"), _set("noneEnabled"))
    addEnabled = Property(bool, _get("addEnabled"), _set("addEnabled"))
    removeEnabled = Property(bool, _get("removeEnabled"), _set("removeEnabled"))
    renameEnabled = Property(bool, _get("renameEnabled"), _set("renameEnabled"))
    noneDisplay = Property(str, _get("noneDisplay"), _set("noneDisplay"))
    baseName = Property(str, _get("baseName"), _set("baseName"))

    def setMRMLScene(self, scene):
        self._scene = scene

    def currentNode(self):
        return self._node

    def setCurrentNode(self, node):
        if node is self._node:
            return
        self._node = node
        if self.count() == 0:
            self.addItem("")
        self.setItemText(0, node.GetName() if node is not None else self._props["noneDisplay"])
        self.currentNodeChanged.emit(node)


class ctkMenuButton(QtWidgets.QPushButton):
    """Preview stand-in for CTK's menu button."""


class qMRMLSegmentationShow3DButton(ctkMenuButton):
    """Preview stand-in for Slicer's 'Show 3D' button (remembers its segmentation node)."""

    segmentationNode = None

    def setSegmentationNode(self, node):
        self.segmentationNode = node


STAND_INS = (qMRMLWidget, ctkCollapsibleButton, qMRMLNodeComboBox, ctkMenuButton, qMRMLSegmentationShow3DButton)


@pytest.fixture(scope="module")
def app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    application = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    application.setStyle("Fusion")
    palette = QPalette()
    palette.setColor(QPalette.Window, QColor(241, 241, 241))
    palette.setColor(QPalette.Button, QColor(232, 232, 232))
    palette.setColor(QPalette.Highlight, QColor(42, 130, 218))
    application.setPalette(palette)
    application.setFont(QFont("DejaVu Sans", 9))
    return application


def load_ui(path) -> QtWidgets.QWidget:
    """Load a .ui file with the stand-ins registered (what ``slicer.util.loadUI`` does in Slicer)."""
    loader = QUiLoader()
    for cls in STAND_INS:
        loader.registerCustomWidget(cls)
    handle = QFile(str(path))
    assert handle.open(QFile.ReadOnly)
    widget = loader.load(handle)
    handle.close()
    assert widget is not None, loader.errorString()
    return widget


# ---------------------------------------------------------------------- the widget (SDSeg.py) at work
WIDGET_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from engine_fixtures import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("widget-models") / "tiny-widget", model_id="tiny-widget")


@pytest.fixture(scope="module")
def engines():
    from SDSegLib.engine_runner import EngineManager

    manager = EngineManager(log=lambda text: None, extra_args=("--threads", "1"))
    yield manager
    manager.stop()


@pytest.fixture
def sdseg(app, monkeypatch, engines, tiny_model):
    """(fake slicer, SDSegWidget) set up on the real .ui, with the tiny model and the CPU selected."""
    import fake_slicer

    fake = fake_slicer.install(monkeypatch, load_ui)
    import SDSeg

    widget = SDSeg.SDSegWidget()
    widget.setup()
    widget.logic._manager = engines
    engines.log = widget.logic._enqueue
    widget.ui.modelComboBox.addItem("tiny test model", str(tiny_model))
    widget.ui.modelComboBox.setCurrentIndex(widget.ui.modelComboBox.count - 1)
    widget.ui.deviceComboBox.setCurrentIndex(widget.ui.deviceComboBox.findData("cpu"))
    yield fake, widget
    job, widget._job = widget._job, None  # not widget.cleanup(): that would stop the engine the next test reuses
    widget._timer.stop()
    widget.removeObservers()
    if job is not None:
        job.cancel()
        job.wait(30)


def _add_volume(fake, name, shape=(4, 12, 16), oblique=False, directions=None):
    import fake_slicer

    directions = np.diag([-1.0, -1.0, 1.0]) if directions is None else np.asarray(directions, dtype=float)
    if oblique:  # 17 degrees about S: the engine warns that the grid is oblique
        c, s = np.cos(0.3), np.sin(0.3)
        directions = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ directions
    ijk_to_ras = np.eye(4)
    ijk_to_ras[:3, :3] = directions * np.array([0.9, 0.9, 3.0])
    ijk_to_ras[:3, 3] = (5.0, -7.0, 12.0)
    array = np.random.default_rng(len(fake.mrmlScene.nodes)).normal(0, 120, shape).astype(np.int16)
    return fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode(name, array, ijk_to_ras))


def _segment(widget, volume):
    """Select ``volume`` and press Segment, as a user would; returns the started job."""
    widget.ui.inputVolumeSelector.setCurrentNode(volume)
    widget.ui.segmentButton.click()
    assert widget._job is not None, "the run did not start"
    return widget._job


def _until(app, condition, timeout=WIDGET_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(5):  # let the timer deliver what the job queued last
        app.processEvents()
        time.sleep(0.03)
    return condition()


def _idle_panel(widget) -> bool:
    ui = widget.ui
    return (widget._job is None and not widget._timer.isActive() and ui.segmentButton.text == "Segment"
            and all(getattr(ui, n).enabled for n in ("inputsCollapsibleButton", "optionsCollapsibleButton", "outputsCollapsibleButton")))


def _broken_copy(tiny_model, folder) -> Path:
    """A copy of the tiny model whose UNet weights no longer match their checksum (the engine exits with code 3)."""
    import shutil

    broken = shutil.copytree(tiny_model, folder / "broken-model")
    weights = next(broken.glob("unet*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"corrupt!")
    return broken


def _segment_with_a_broken_model(app, fake, widget, tiny_model, folder):
    """Choose a :func:`_broken_copy` of the tiny model (made in ``folder``) and segment; returns the job,
    finished (its engine exited with code 3 while loading), with the panel idle again."""
    ui = widget.ui
    ui.modelComboBox.addItem("broken", str(_broken_copy(tiny_model, folder)))
    ui.modelComboBox.setCurrentIndex(ui.modelComboBox.count - 1)
    job = _segment(widget, _add_volume(fake, "CT"))
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    return job


def _kill_engine_during_a_run(app, fake, widget):
    """Segment a 300-slice volume one slice a batch and kill the engine once the run is under way (as the
    out-of-memory killer does); returns the job, finished, with the panel idle again."""
    ui = widget.ui
    widget._parameterNode.batchSize = 1
    job = _segment(widget, _add_volume(fake, "CT", shape=(300, 32, 32)))
    assert _until(app, lambda: ui.progressBar.maximum == 100 and ui.progressBar.value > 0)
    widget.logic.engineManager.process.popen.kill()  # killed for memory during the run
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    return job


def _segmentations(fake):
    return fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")
