"""A loaded scene's saved model, device and GPU-kernels policy are what the panel shows and runs with.

The model, device and kernels combo boxes are synced with the parameter node by hand, only when
the widget takes a parameter node. Loading a saved scene while SDSeg is shown does not give it a
new node: Slicer copies the saved singleton parameter node's content into the existing one (one
ModifiedEvent). Before, the panel then kept showing the model and device chosen before, while
Segment ran with the saved ones (the parameter node's); a clinician saw one model and got another's
result. Real .ui (PySide6 offscreen) and ``Testing/Slicer/fake_slicer.py`` (MRML cannot exist
outside 3D Slicer), whose scene imports singleton parameter nodes the way Slicer does.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import app, engines, sdseg, tiny_model  # noqa: E402,F401

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_a_loaded_scenes_parameters_are_shown(app, sdseg, tiny_model, tmp_path):
    from engine_fixtures import make_tiny_model

    fake, widget = sdseg
    other = str(make_tiny_model(tmp_path / "tiny-other", model_id="tiny-other"))
    ui = widget.ui
    assert ui.modelComboBox.currentData == str(tiny_model) and ui.deviceComboBox.currentData == "cpu"
    saved = {"modelId": other, "device": "auto", "gpuKernels": "off", "steps": 3}
    fake.mrmlScene.Clear()  # File > Close scene, then load the saved one
    fake.mrmlScene.ImportParameterNodes({"SDSeg": saved})
    app.processEvents()
    p = widget._parameterNode
    assert (p.modelId, p.device, p.gpuKernels, p.steps) == (other, "auto", "off", 3)  # Segment runs with these
    assert ui.stepsSpinBox.value == 3  # a widget bound by connectGui follows
    assert (ui.modelComboBox.currentData, ui.deviceComboBox.currentData, ui.gpuKernelsComboBox.currentData) == (
        other, "auto", "off")  # before: the model and device chosen before the scene was loaded
    assert ui.modelCardLabel.text == widget.logic.modelSummary(other)


def test_a_scene_loaded_without_closing_first_is_shown_too(app, sdseg, tiny_model, tmp_path):
    from engine_fixtures import make_tiny_model

    fake, widget = sdseg
    other = str(make_tiny_model(tmp_path / "tiny-else", model_id="tiny-else"))
    fake.mrmlScene.ImportParameterNodes({"SDSeg": {"modelId": other, "device": "cpu"}})
    app.processEvents()
    assert widget.ui.modelComboBox.currentData == other and widget._parameterNode.modelId == other
