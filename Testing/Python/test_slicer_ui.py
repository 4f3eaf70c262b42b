"""The module panel (SDSegExtension/Resources/UI/SDSeg.ui) loads and matches the Python code.

Loaded with PySide6's QUiLoader, offscreen. Slicer's own widget classes (qMRMLNodeComboBox,
ctkCollapsibleButton, ...) do not exist outside Slicer, so the test registers *preview
stand-ins* with the same class names and the Qt properties the .ui sets; they draw roughly like
Slicer's widgets so that the screenshot is representative. Checks:

* every ``self.ui.<name>`` used by SDSeg.py / SDSegLib exists, with a plausible class;
* every ``SlicerParameterName`` names a field of SDSegParameterNode, on a widget type Slicer's
  parameterNodeWrapper can connect to that field's type;
* every custom class is declared in ``<customwidgets>`` with an ``<extends>``;
* a screenshot is written to Testing/Artifacts/sdseg-panel.png (and to
  Resources/Screenshots/sdseg-panel.png when SDSEG_UPDATE_SCREENSHOTS=1);
* SDSegWidget itself at work (second half of this file): SDSeg.py runs against
  Testing/Slicer/fake_slicer.py, because the MRML scene, PythonQt and slicer.util cannot exist
  outside 3D Slicer; the .ui, Qt's event loop, the logic and the engine process are real. A
  failure while writing the result, or closing the scene during a run, leaves a usable panel;
  every run keeps its own node for the volume it started with; the engine's warnings are shown
  and stored; ignored options are disabled; the slice axis is named and the time estimated, again
  when the selected ROI is moved; a model missing on this computer disables Segment.
"""

from __future__ import annotations

import ast
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

QtWidgets = pytest.importorskip("PySide6.QtWidgets")
from PySide6.QtCore import Property, QFile, QRect, Qt, Signal  # noqa: E402
from PySide6.QtGui import QColor, QFont, QPainter, QPalette  # noqa: E402
from PySide6.QtUiTools import QUiLoader  # noqa: E402

import sys  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "SDSegExtension"))

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "SDSegExtension"
UI_FILE = MODULE / "Resources" / "UI" / "SDSeg.ui"
HEADER = 26


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


@pytest.fixture(scope="module")
def panel(app):
    return load_ui(UI_FILE)


def _names_used_by_python() -> set:
    names = set()
    for path in [MODULE / "SDSeg.py", *sorted((MODULE / "SDSegLib").glob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r"\bui\.([A-Za-z_]\w*)", text))  # self.ui.X in SDSeg.py, ui.X in SDSegLib
        names |= set(re.findall(r"\"(\w+CollapsibleButton)\"", text))
    return names


def test_every_widget_the_code_uses_exists(panel):
    used = _names_used_by_python()
    assert {"segmentButton", "progressBar", "statusLog", "show3DButton", "outputSegmentationSelector"} <= used
    missing = sorted(name for name in used if panel.findChild(QtWidgets.QWidget, name) is None)
    assert not missing, f"SDSeg.ui lacks widgets used by the Python code: {missing}"
    assert isinstance(panel.findChild(QtWidgets.QWidget, "segmentButton"), QtWidgets.QPushButton)
    assert isinstance(panel.findChild(QtWidgets.QWidget, "statusLog"), QtWidgets.QPlainTextEdit)
    assert panel.findChild(QtWidgets.QWidget, "remoteTokenLineEdit").echoMode() == QtWidgets.QLineEdit.Password


def test_input_selector_offers_scalar_and_vector_volumes(panel):
    selector = panel.findChild(QtWidgets.QWidget, "inputVolumeSelector")
    assert list(selector.property("nodeTypes")) == ["vtkMRMLScalarVolumeNode", "vtkMRMLVectorVolumeNode"]
    assert selector.property("showChildNodeTypes") is False  # no labelmaps
    output = panel.findChild(QtWidgets.QWidget, "outputSegmentationSelector")
    assert list(output.property("nodeTypes")) == ["vtkMRMLSegmentationNode"] and output.property("noneEnabled") is True


def _parameter_fields() -> dict:
    tree = ast.parse((MODULE / "SDSegLib" / "parameter_node.py").read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SDSegParameterNode")
    return {n.target.id: ast.unparse(n.annotation) for n in cls.body if isinstance(n, ast.AnnAssign)}


def test_parameter_names_match_the_parameter_node(panel):
    fields = _parameter_fields()
    connected = {w.property("SlicerParameterName"): w for w in panel.findChildren(QtWidgets.QWidget) if w.property("SlicerParameterName")}
    assert len(connected) >= 10
    for name, widget in connected.items():
        assert name in fields, f"widget {widget.objectName()} names unknown parameter {name!r}"
        annotation = fields[name]
        if "vtkMRML" in annotation:
            assert type(widget).__name__ == "qMRMLNodeComboBox", name
        elif "int" in annotation:
            assert type(widget) is QtWidgets.QSpinBox, name  # parameterNodeWrapper connects int <-> exact QSpinBox
        else:
            pytest.fail(f"no GUI connector checked for {name}: {annotation}")


def test_custom_widgets_are_declared_with_extends():
    root = ET.parse(UI_FILE).getroot()
    declared = {c.findtext("class"): c.findtext("extends") for c in root.iter("customwidget")}
    builtin = {"QWidget", "QLabel", "QComboBox", "QSpinBox", "QPushButton", "QProgressBar", "QPlainTextEdit", "QLineEdit"}
    used = {w.get("class") for w in root.iter("widget")}
    assert used - builtin <= set(declared), sorted(used - builtin - set(declared))
    assert all(declared.values()) and declared["qMRMLSegmentationShow3DButton"] == "ctkMenuButton"


def test_every_interactive_widget_has_a_tooltip(panel):
    kinds = (QtWidgets.QAbstractButton, QtWidgets.QComboBox, QtWidgets.QAbstractSpinBox, QtWidgets.QLineEdit)
    interactive = [w for w in panel.findChildren(QtWidgets.QWidget)
                   if isinstance(w, kinds) and w.objectName() and not w.objectName().startswith("qt_")]
    names = {w.objectName() for w in interactive}
    assert {"importModelZipButton", "useModelFolderButton", "openModelsFolderButton", "copyDiagnosticsButton"} <= names
    assert not sorted(w.objectName() for w in interactive if not w.toolTip().strip())


def test_panel_screenshot(panel, app, tmp_path):
    from SDSegLib.model_info import model_summary_html
    from SDSegLib.model_library import list_models
    from SDSegLogic.registry import Registry, resolve_model

    registry = Registry.load(REPO / "Resources" / "models.json")
    combo = panel.findChild(QtWidgets.QComboBox, "modelComboBox")
    for choice in list_models(registry, (), home=tmp_path / "no-user-models"):  # what a first start lists
        combo.addItem(choice.text, choice.spec)
    entry = registry.get(combo.itemData(0))
    try:
        installed = resolve_model(entry.id, registry=registry).source
    except Exception:  # noqa: BLE001 - the demo model may not be trained yet in this checkout
        installed = ""
    card_file = REPO / "Resources" / "Models" / entry.id / "model_card.json"
    intended = json.loads(card_file.read_text(encoding="utf-8")).get("intended_use", "") if card_file.is_file() else ""
    panel.findChild(QtWidgets.QLabel, "modelCardLabel").setText(model_summary_html(entry, installed, intended))
    for text in ("Auto (GPU if available)", "GPU (CUDA)", "CPU"):
        panel.findChild(QtWidgets.QComboBox, "deviceComboBox").addItem(text)
    panel.findChild(QtWidgets.QLabel, "deviceInfoLabel").setText("CPU: 8 threads, 14.2 of 31.3 GiB RAM free, no CUDA GPU found")
    # the state right after a finished run (what SDSegWidget shows then; the output stays on "Create new")
    panel.findChild(QtWidgets.QComboBox, "inputVolumeSelector").addItem("SDSegCTChestAbdomen")
    panel.findChild(QtWidgets.QLabel, "warningLabel").hide()  # shown only after a run with warnings
    button = panel.findChild(QtWidgets.QPushButton, "segmentButton")
    button.setEnabled(True)
    panel.findChild(QtWidgets.QProgressBar, "progressBar").setValue(100)
    panel.findChild(QtWidgets.QLabel, "estimateLabel").setText("Estimate: under 1 min for 67 slices on CPU.")
    panel.findChild(QtWidgets.QLabel, "etaLabel").setText("Segmented 67 slices in 41.2 s.")
    for name in ("importModelZipButton", "useModelFolderButton", "openModelsFolderButton", "copyDiagnosticsButton"):
        panel.findChild(QtWidgets.QPushButton, name).setEnabled(True)  # enabled whenever no run is going on
    panel.findChild(QtWidgets.QPlainTextEdit, "statusLog").setPlainText(
        "Starting the SDSeg engine (model sdseg-demo-ct-lite, device auto) ...\n"
        "Engine ready (pid 41872, device cpu).\nSegmented 67 slices in 41.2 s.")
    panel.resize(430, max(780, panel.heightForWidth(430), panel.sizeHint().height()))
    panel.show()
    app.processEvents()
    image = panel.grab().toImage()
    assert image.width() == 430, "the panel does not fit Slicer's module panel width (a widget is too wide)"
    out = REPO / "Testing" / "Artifacts" / "sdseg-panel.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    assert image.save(str(out))
    if os.environ.get("SDSEG_UPDATE_SCREENSHOTS") == "1":
        shot = REPO / "Resources" / "Screenshots" / "sdseg-panel.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        assert image.save(str(shot))
    # the picture is not blank: many distinct colours (text, frames, progress bar)
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 20
    advanced = panel.findChild(QtWidgets.QWidget, "advancedCollapsibleButton")
    advanced.setCollapsed(False)  # its buttons must fit too (Testing/Artifacts only; the README shows it collapsed)
    panel.resize(430, max(780, panel.heightForWidth(430), panel.sizeHint().height()))
    app.processEvents()
    expanded = panel.grab().toImage()
    assert expanded.width() == 430, "the Advanced section does not fit Slicer's module panel width"
    assert expanded.save(str(out.with_name("sdseg-panel-advanced.png")))
    advanced.setCollapsed(True)


# ---------------------------------------------------------------------- the widget (SDSeg.py) at work
# SDSegWidget runs here against Testing/Slicer/fake_slicer.py: 3D Slicer (MRML scene, PythonQt,
# slicer.util) cannot exist outside Slicer. Everything else is real: the .ui (PySide6, offscreen),
# Qt's timer and event loop, SDSegModuleLogic, and the engine process with a tiny random-weight
# model, so a run goes through the same start/poll/write path as in Slicer (about 1 s per run on
# a warm engine). Only failures while writing are injected, by replacing logic.applyResult.
sys.path.insert(0, str(REPO / "Testing" / "Slicer"))

import time  # noqa: E402

import numpy as np  # noqa: E402

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


def _segmentations(fake):
    return fake.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode")


def test_widget_failure_while_writing_resets_the_panel(app, sdseg):
    fake, widget = sdseg
    volume = _add_volume(fake, "CT")

    def fails(*args, **kwargs):
        raise OSError("disk full")

    real_apply, widget.logic.applyResult = widget.logic.applyResult, fails
    job = _segment(widget, volume)
    assert widget.ui.progressBar.maximum == 0  # busy (indeterminate) until the first progress event
    assert _until(app, lambda: job.finished)
    assert _idle_panel(widget), "the panel stayed locked after the failure"
    assert len(fake.errors) == 1 and "could not write the result" in fake.errors[0] and "disk full" in fake.errors[0]
    assert "disk full" in widget.ui.statusLog.toPlainText() and widget.ui.progressBar.maximum == 100
    widget.logic.applyResult = real_apply  # the panel works again: the next run writes its result
    job = _segment(widget, volume)
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert [n.GetName() for n in _segmentations(fake)] == ["CT SDSeg"] and len(fake.errors) == 1


def test_widget_scene_close_during_a_run_cancels_it(app, sdseg):
    fake, widget = sdseg
    volume = _add_volume(fake, "CT", shape=(300, 32, 32))
    widget._parameterNode.batchSize = 1
    job = _segment(widget, volume)
    assert _until(app, lambda: widget.ui.progressBar.maximum == 100 and widget.ui.progressBar.value > 0)
    assert widget.ui.etaLabel.text.startswith("Slice ")
    fake.mrmlScene.Clear()
    assert widget._job is None and not widget._timer.isActive() and widget.ui.segmentButton.text == "Segment"
    assert [e.kind for e in job.wait(30)][-1] == "cancelled"  # the engine stopped; nothing to write
    assert not _segmentations(fake) and not fake.errors
    assert "scene is closing" in widget.ui.statusLog.toPlainText()


def test_widget_writes_the_run_s_volume_and_keeps_every_run(app, sdseg):
    fake, widget = sdseg
    first, second = _add_volume(fake, "A"), _add_volume(fake, "B", shape=(3, 10, 8))
    job = _segment(widget, first)
    widget.ui.inputVolumeSelector.setCurrentNode(second)  # changed during the run (e.g. from a script)
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    (node_a,) = _segmentations(fake)
    role = fake.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()
    assert node_a.GetName() == "A SDSeg" and node_a.GetNodeReference(role) is first
    assert widget.ui.outputSegmentationSelector.currentNode() is None and widget._parameterNode.outputSegmentation is None
    assert widget.ui.show3DButton.segmentationNode is node_a
    masks_a = {k: v.copy() for k, v in node_a.masks.items()}
    for volume in (second, first):
        job = _segment(widget, volume)
        assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert [n.GetName() for n in _segmentations(fake)] == ["A SDSeg", "B SDSeg", "A SDSeg_1"]
    assert all(np.array_equal(node_a.masks[k], v) for k, v in masks_a.items())  # the first result is untouched
    assert not fake.errors


def test_widget_shows_and_stores_the_engine_warnings(app, sdseg):
    fake, widget = sdseg
    job = _segment(widget, _add_volume(fake, "tilted", oblique=True))
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    label = widget.ui.warningLabel
    assert not label.qobject.isHidden() and "oblique" in label.text and "color:#c05a00" in label.text
    assert "Warning:" in widget.ui.statusLog.toPlainText() and "oblique" in widget.ui.statusLog.toPlainText()
    (node,) = _segmentations(fake)
    assert "oblique" in node.GetAttribute("SDSeg.Warnings")
    assert "oblique" in node.GetSegmentation().GetNthSegment(0).GetTag("SDSeg.Warnings")
    job = _segment(widget, _add_volume(fake, "straight"))
    assert label.qobject.isHidden()  # a new run clears the last run's warnings
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert "oblique" not in (_segmentations(fake)[1].GetAttribute("SDSeg.Warnings") or "")


def test_widget_disables_what_would_be_ignored(sdseg):
    fake, widget = sdseg
    import fake_slicer

    ui, p = widget.ui, widget._parameterNode
    widget.ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT"))
    assert p.samples == 1 and not ui.uncertaintyVolumeSelector.enabled
    assert "2 or more samples" in ui.uncertaintyVolumeSelector.toolTip
    ui.samplesSpinBox.qobject.setValue(3)
    assert p.samples == 3 and ui.uncertaintyVolumeSelector.enabled
    assert ui.firstSliceSpinBox.enabled and ui.lastSliceSpinBox.enabled
    roi = fake.mrmlScene.AddNode(fake_slicer.FakeROINode("R", (-100, 100, -100, 100, 0, 20)))
    ui.roiSelector.setCurrentNode(roi)
    assert p.roiNode is roi and not ui.firstSliceSpinBox.enabled and not ui.lastSliceSpinBox.enabled
    assert "region sets the slices" in ui.firstSliceSpinBox.toolTip
    ui.roiSelector.setCurrentNode(None)
    assert ui.firstSliceSpinBox.enabled


SAGITTAL_STORED = np.array([[0, 0, -1.0], [1, 0, 0], [0, -1.0, 0]])  # i -> A, j -> I, k -> L (RAS columns)


def test_widget_names_the_slice_axis_and_estimates_the_time(sdseg):
    fake, widget = sdseg
    ui = widget.ui
    ui.modelComboBox.setCurrentIndex(ui.modelComboBox.findData("sdseg-demo-ct-lite"))
    assert "DEMONSTRATION ONLY" in ui.modelCardLabel.text and "color:#b36b00" in ui.modelCardLabel.text
    assert "one patient" in ui.modelCardLabel.toolTip and "not a validated model" in ui.modelCardLabel.toolTip
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "sagittal", shape=(150, 60, 200), directions=SAGITTAL_STORED))
    assert ui.slicesLabel.text == "Slices (j):"  # an axial model cuts this volume across j, not k
    assert "j axis" in ui.firstSliceSpinBox.toolTip and "axial" in ui.firstSliceSpinBox.toolTip
    assert ui.estimateLabel.text == "Estimate: under 1 min for 60 slices on CPU."  # 0.6 s per slice, 60 axial slices
    widget._parameterNode.samples = 4
    assert ui.estimateLabel.text == "Estimate: about 3 min for 60 slices on CPU."
    widget._parameterNode.firstSlice, widget._parameterNode.lastSlice = 100, 140  # valid for K=150, not for J=60
    assert "j axis, which has 60 slices" in ui.estimateLabel.text
    ui.deviceComboBox.setCurrentIndex(ui.deviceComboBox.findData("cuda"))
    widget._parameterNode.firstSlice, widget._parameterNode.lastSlice = 10, 19
    assert ui.estimateLabel.text == "Fast on the GPU."


def test_widget_roi_on_a_sagittal_stored_volume_limits_the_axial_slices(app, sdseg):
    fake, widget = sdseg
    import fake_slicer

    volume = _add_volume(fake, "sagittal", shape=(8, 10, 6), directions=SAGITTAL_STORED)  # RAS z = 12 - 0.9 j
    roi = fake.mrmlScene.AddNode(fake_slicer.FakeROINode("R", (-100, 100, -100, 100, 7.4, 9.4)))  # z 7.4..9.4: j 3..5
    widget.ui.roiSelector.setCurrentNode(roi)
    job = _segment(widget, volume)
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and not fake.errors
    assert job.output.header["options"]["slices"] == [3, 6]  # the engine segmented axial slices j 3..5 only
    (node,) = _segmentations(fake)
    assert node.GetSegmentation().GetNthSegment(0).GetTag("SDSeg.Slices") == "j 3..5"


def test_widget_moving_the_roi_refreshes_the_slices_and_the_estimate(sdseg):
    fake, widget = sdseg
    import fake_slicer

    ui = widget.ui
    ui.modelComboBox.setCurrentIndex(ui.modelComboBox.findData("sdseg-demo-ct-lite"))  # a model with a CPU timing
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT", shape=(40, 12, 16)))  # RAS z = 12 + 3 k
    roi = fake.mrmlScene.AddNode(fake_slicer.FakeROINode("R", (-100, 100, -100, 100, 12, 21)))  # k 0..3
    ui.roiSelector.setCurrentNode(roi)
    assert ui.estimateLabel.text == "Estimate: under 1 min for 4 slices on CPU."
    roi.bounds[4:] = [12, 42]  # the user drags a handle: only the ROI node is modified
    roi.Modified()
    assert ui.estimateLabel.text == "Estimate: under 1 min for 11 slices on CPU."
    roi.bounds[4:] = [500, 600]  # dragged off the volume
    roi.Modified()
    assert "lies outside the volume" in ui.estimateLabel.text
    other = fake.mrmlScene.AddNode(fake_slicer.FakeROINode("R2", (-100, 100, -100, 100, 12, 15)))
    ui.roiSelector.setCurrentNode(other)  # the observer follows the selection
    assert ui.estimateLabel.text == "Estimate: under 1 min for 2 slices on CPU." and not roi._observers
    ui.roiSelector.setCurrentNode(None)
    assert not other._observers and ui.estimateLabel.text == "Estimate: under 1 min for 40 slices on CPU."
    ui.roiSelector.setCurrentNode(other)
    widget.exit()  # leaving the module (and cleanup) stops observing the ROI
    assert not other._observers


def test_widget_missing_model_disables_segment_and_says_how_to_fix_it(sdseg, tmp_path):
    fake, widget = sdseg
    ui, p = widget.ui, widget._parameterNode
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT"))
    assert ui.segmentButton.enabled
    p.modelId = str(tmp_path / "colleague" / "liver-model")  # saved in a scene made on another computer
    widget.setParameterNode(p)
    assert ui.modelComboBox.currentText == "liver-model (not found)"
    assert not ui.segmentButton.enabled
    tip = ui.segmentButton.toolTip
    assert "'liver-model' is missing" in tip and "no such model folder" in tip
    assert "Import model zip" in tip and "Use model folder" in tip
    ui.remoteUrlLineEdit.text = "sdseg://127.0.0.1:50123"  # a remote engine serves its own model
    assert ui.segmentButton.enabled and ui.segmentButton.toolTip == "Segment the input with the selected model"
    ui.remoteUrlLineEdit.text = ""
    assert not ui.segmentButton.enabled
    assert ui.modelComboBox.findData("sdseg-demo-ct-lite") >= 0
    ui.modelComboBox.setCurrentIndex(ui.modelComboBox.findData("sdseg-demo-ct-lite"))  # another model: usable again
    assert p.modelId == "sdseg-demo-ct-lite" and ui.segmentButton.enabled
    assert "missing" not in ui.segmentButton.toolTip and not fake.errors


# ---------------------------------------------------------------------- model management, engine log, diagnostics
def _zip_model(folder, archive):
    """A model zip as a user makes one: the model folder's files inside one top-level folder."""
    import zipfile

    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, f"{folder.name}/{path.name}")
    return archive


def _combo_items(combo):
    return [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count)]


def test_widget_model_buttons_import_use_and_open(app, sdseg, tiny_model, tmp_path, monkeypatch):
    import shutil

    fake, widget = sdseg
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "sdseg-home"))
    ui, p, combo = widget.ui, widget._parameterNode, widget.ui.modelComboBox
    home = tmp_path / "sdseg-home" / "models"
    ui.openModelsFolderButton.click()  # created if missing, then shown in the file browser
    assert home.is_dir() and fake.opened_urls == [str(home)]
    own = shutil.copytree(tiny_model, tmp_path / "my-trained-model").resolve()
    widget.useModelFolder(str(own))  # what "Use model folder..." does with the chosen folder
    assert combo.currentData == str(own) == p.modelId and combo.currentText == "my-trained-model (folder)"
    assert "installed (folder)" in ui.modelCardLabel.text and "test segmentation" in ui.modelCardLabel.text
    widget.useModelFolder(str(tmp_path))  # not a model: refused, the selection stays
    assert "not a usable SDSeg model" in fake.errors[-1] and p.modelId == str(own)
    widget.importModelZip(str(_zip_model(tiny_model, tmp_path / "tiny.zip")))
    assert (home / "tiny-widget" / "0.0.1" / "model_card.json").is_file()
    assert p.modelId == "tiny-widget" and combo.currentText == "tiny-widget (v0.0.1, imported)"
    assert "Imported tiny-widget 0.0.1" in ui.statusLog.toPlainText() and "installed (cache)" in ui.modelCardLabel.text
    widget.importModelZip(str(tmp_path / "typo.zip"))
    assert "not imported" in fake.errors[-1] and "no such file" in fake.errors[-1] and p.modelId == "tiny-widget"
    assert [spec for _, spec in _combo_items(combo)] == ["sdseg-demo-ct-lite", "tiny-widget", str(own)]
    job = _segment(widget, _add_volume(fake, "CT"))  # the engine takes the imported id
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and job.output is not None
    assert len(fake.errors) == 2
    import SDSeg

    later = SDSeg.SDSegWidget()  # the next Slicer session: the folder is offered again (application settings)
    later.setup()
    try:
        assert ("my-trained-model (folder)", str(own)) in _combo_items(later.ui.modelComboBox)
    finally:
        later.exit()
        later.removeObservers()


def test_widget_keeps_a_saved_model_that_is_not_in_the_list(sdseg, tiny_model, tmp_path):
    import shutil

    fake, widget = sdseg
    ui, p, combo = widget.ui, widget._parameterNode, widget.ui.modelComboBox
    gone = str(tmp_path / "colleague" / "liver-model")  # a folder saved in a scene made on another computer
    p.modelId, p.device = gone, "cpu"
    widget.setParameterNode(p)  # what entering the module does after the scene was loaded
    assert p.modelId == gone and combo.currentData == gone and combo.currentText == "liver-model (not found)"
    assert "not found" in ui.modelCardLabel.text and "no such model folder" in ui.modelCardLabel.text
    assert ui.deviceComboBox.currentData == "cpu"
    here = shutil.copytree(tiny_model, tmp_path / "shared-model")  # exists, never chosen on this computer
    p.modelId = str(here)
    widget.setParameterNode(p)
    assert p.modelId == str(here) and combo.currentText == "shared-model (folder)"
    assert ("liver-model (not found)", gone) not in _combo_items(combo) and not fake.errors


def test_widget_dead_engine_shows_its_log_and_copy_diagnostics(app, sdseg):
    fake, widget = sdseg
    widget._parameterNode.batchSize = 1
    job = _segment(widget, _add_volume(fake, "CT", shape=(300, 32, 32)))
    assert _until(app, lambda: widget.ui.progressBar.maximum == 100 and widget.ui.progressBar.value > 0)
    widget.logic.engineManager.process.popen.kill()  # the engine dies (e.g. killed for memory) during the run
    assert _until(app, lambda: job.finished) and _idle_panel(widget)
    assert len(fake.errors) == 1 and fake.errors[0].startswith("Segmentation failed:")
    details = fake.error_details[0]
    assert details.startswith("Engine log (last lines):") and "sdseg-engine INFO job" in details
    assert "sdseg-engine INFO" in widget.ui.statusLog.toPlainText()
    widget.ui.copyDiagnosticsButton.click()
    text = QtWidgets.QApplication.clipboard().text()
    for part in ("SDSeg diagnostics", widget.logic.versionsText(), "Device: CPU: ", "(tiny-widget v0.0.1)",
                 f"Engine log: {widget.logic.engineManager.log_path}", "sdseg-engine INFO job"):
        assert part in text, part
    assert "copied to the clipboard" in widget.ui.statusLog.toPlainText()


def test_widget_cleanup_deletes_the_session_engine_log(app, monkeypatch, tiny_model):
    import fake_slicer

    fake_slicer.install(monkeypatch, load_ui)
    import SDSeg
    from SDSegLib.engine_runner import EngineManager

    widget = SDSeg.SDSegWidget()
    widget.setup()
    widget.logic._manager = EngineManager(log=widget.logic._enqueue, extra_args=("--threads", "1"))
    widget.logic.engineManager.client(str(tiny_model), "cpu").close()
    log = widget.logic.engineManager.log_path
    widget.logic.stopEngine()  # a stopped (or restarted) engine keeps the session's log
    assert log.is_file() and "ready on" in widget.logic.engineLogTail()
    widget.cleanup()
    assert not log.parent.exists() and widget.logic.engineManager.process is None
