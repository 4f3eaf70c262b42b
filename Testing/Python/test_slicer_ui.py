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
  Resources/Screenshots/sdseg-panel.png when SDSEG_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import ast
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

QtWidgets = pytest.importorskip("PySide6.QtWidgets")
from PySide6.QtCore import Property, QFile, QRect, Qt  # noqa: E402
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
    """Preview stand-in for Slicer's qMRMLWidget (a plain container)."""


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
    """Preview stand-in for Slicer's node selector; shows a node name or the 'none' text."""

    def __init__(self, parent=None):
        super().__init__(parent)
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


class ctkMenuButton(QtWidgets.QPushButton):
    """Preview stand-in for CTK's menu button."""


class qMRMLSegmentationShow3DButton(ctkMenuButton):
    """Preview stand-in for Slicer's 'Show 3D' button."""


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


@pytest.fixture(scope="module")
def panel(app):
    loader = QUiLoader()
    for cls in STAND_INS:
        loader.registerCustomWidget(cls)
    handle = QFile(str(UI_FILE))
    assert handle.open(QFile.ReadOnly)
    widget = loader.load(handle)
    handle.close()
    assert widget is not None, loader.errorString()
    return widget


def _names_used_by_python() -> set:
    names = set()
    for path in [MODULE / "SDSeg.py", *sorted((MODULE / "SDSegLib").glob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r"self\.ui\.([A-Za-z_]\w*)", text))
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


def test_panel_screenshot(panel, app):
    from SDSegLib.model_info import model_choices, model_summary_html
    from SDSegLogic.registry import Registry, resolve_model

    registry = Registry.load(REPO / "Resources" / "models.json")
    combo = panel.findChild(QtWidgets.QComboBox, "modelComboBox")
    for model_id, text in model_choices(registry, "sdseg-demo-ct-lite"):
        combo.addItem(text, model_id)
    entry = registry.get(combo.itemData(0))
    try:
        installed = resolve_model(entry.id, registry=registry).source
    except Exception:  # noqa: BLE001 - the demo model may not be trained yet in this checkout
        installed = ""
    panel.findChild(QtWidgets.QLabel, "modelCardLabel").setText(model_summary_html(entry, installed))
    for text in ("Auto (GPU if available)", "GPU (CUDA)", "CPU"):
        panel.findChild(QtWidgets.QComboBox, "deviceComboBox").addItem(text)
    panel.findChild(QtWidgets.QLabel, "deviceInfoLabel").setText("CPU: 8 threads, 14.2 of 31.3 GiB RAM free, no CUDA GPU found")
    # the state right after a finished run (what SDSegWidget shows then)
    panel.findChild(QtWidgets.QComboBox, "inputVolumeSelector").addItem("SDSegCTChestAbdomen")
    panel.findChild(QtWidgets.QComboBox, "outputSegmentationSelector").insertItem(0, "SDSegCTChestAbdomen SDSeg")
    panel.findChild(QtWidgets.QComboBox, "outputSegmentationSelector").setCurrentIndex(0)
    button = panel.findChild(QtWidgets.QPushButton, "segmentButton")
    button.setEnabled(True)
    panel.findChild(QtWidgets.QProgressBar, "progressBar").setValue(100)
    panel.findChild(QtWidgets.QLabel, "etaLabel").setText("Segmented 67 slices in 41.2 s.")
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
