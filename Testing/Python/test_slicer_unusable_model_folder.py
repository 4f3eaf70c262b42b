"""A selected model folder that lost its weights disables Segment with a tooltip naming the model and the fix.

The model list marks such a folder "(not a usable model folder)"; the Segment button's tooltip
used to repeat that suffix inside the model's name ("The model 'x (not a usable model folder)' is
missing"). Against ``Testing/Slicer/fake_slicer.py`` (Slicer itself cannot run here) with the real
Qt panel (PySide6, offscreen) and a real tiny model folder.
"""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import _add_volume, app, engines, sdseg, tiny_model  # noqa: E402,F401 - pytest fixtures


def test_a_model_folder_without_weights_disables_segment_and_names_it_cleanly(sdseg, tiny_model, tmp_path):
    fake, widget = sdseg
    ui, p = widget.ui, widget._parameterNode
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT"))
    folder = shutil.copytree(tiny_model, tmp_path / "share" / "liver-model")
    for weights in folder.glob("*.safetensors"):  # half-synced share, or weights removed by a clean-up
        weights.unlink()
    p.modelId = str(folder)
    widget.setParameterNode(p)
    assert ui.modelComboBox.currentText == "liver-model (not a usable model folder)"
    assert not ui.segmentButton.enabled
    tip = ui.segmentButton.toolTip
    assert "The model 'liver-model' is missing" in tip and "safetensors" in tip, tip
