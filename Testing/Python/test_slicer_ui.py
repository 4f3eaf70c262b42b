"""The module panel (SDSegExtension/Resources/UI/SDSeg.ui) loads and matches the Python code.

Loaded with PySide6's QUiLoader, offscreen. Slicer's own widget classes (qMRMLNodeComboBox,
ctkCollapsibleButton, ...) do not exist outside Slicer (3D Slicer cannot be installed here), so
the test registers *preview stand-ins* (slicer_test_helpers.py) with the same class names and the
Qt properties the .ui sets; they draw roughly like Slicer's widgets so that the screenshot is
representative. SDSegWidget at work, against Testing/Slicer/fake_slicer.py, is tested in
test_slicer_widget.py. Checks:

* every ``self.ui.<name>`` used by SDSeg.py / SDSegLib exists, with a plausible class;
* every ``SlicerParameterName`` names a field of SDSegParameterNode, on a widget type Slicer's
  parameterNodeWrapper can connect to that field's type;
* every custom class is declared in ``<customwidgets>`` with an ``<extends>``;
* a screenshot is written to Testing/Artifacts/sdseg-panel.png (and to
  Resources/Screenshots/sdseg-panel.png when SDSEG_UPDATE_SCREENSHOTS=1);
"""

from __future__ import annotations

import ast
import json
import os
import re
import xml.etree.ElementTree as ET

import pytest

QtWidgets = pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import MODULE, REPO, UI_FILE, app, load_ui  # noqa: E402,F401 - app is a pytest fixture


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
        elif annotation == "bool":
            assert type(widget) is QtWidgets.QCheckBox, name  # and bool <-> exact QCheckBox
        else:
            pytest.fail(f"no GUI connector checked for {name}: {annotation}")


def test_custom_widgets_are_declared_with_extends():
    root = ET.parse(UI_FILE).getroot()
    declared = {c.findtext("class"): c.findtext("extends") for c in root.iter("customwidget")}
    builtin = {"QWidget", "QLabel", "QComboBox", "QSpinBox", "QPushButton", "QProgressBar", "QPlainTextEdit", "QLineEdit",
               "QCheckBox"}
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
