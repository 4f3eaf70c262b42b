"""The run-time estimate counts every time point when "All time points" is ticked.

For the volume of a sequence (a 4D CT, a cine series) the panel offers "All time points (N)",
which segments each of the N time points. The estimate under the slice numbers still counted one
time point: a clinician ticking "All time points (10)" on a 67-slice 4D CT read "under 1 min for
67 slices on CPU" for a run that takes ten times as long. Now it counts all time points and says so.

SDSegWidget on the real .ui against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be
installed here); the registry's real CPU timing of the demo model gives the estimate.
"""

from __future__ import annotations

import math

import pytest

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import app, engines, sdseg, tiny_model  # noqa: E402,F401 - pytest fixtures

from test_slicer_sequence import _sequence  # noqa: E402 - a proxy volume browsing a volume sequence

POINTS, SLICES = 10, 67


def test_the_estimate_counts_every_time_point_when_all_are_segmented(app, sdseg):
    fake, widget = sdseg
    ui, p = widget.ui, widget._parameterNode
    model = "sdseg-demo-ct-lite"  # listed in the registry with a CPU timing
    seconds_per_slice = widget.logic.registry().get(model).seconds_per_slice("cpu")
    assert seconds_per_slice, "the demo model's registry entry has no CPU timing"
    ui.modelComboBox.addItem("demo", model)
    ui.modelComboBox.setCurrentIndex(ui.modelComboBox.count - 1)
    assert p.modelId == model and p.device == "cpu"
    proxy, _browser, _volumes = _sequence(fake, shapes=((SLICES, 16, 16),) * POINTS)
    ui.inputVolumeSelector.setCurrentNode(proxy)
    one = ui.estimateLabel.text
    assert f"{SLICES} slices" in one and "time points" not in one, one  # the selected time point only

    ui.allTimePointsCheckBox.qobject.click()
    assert p.allTimePoints
    every = ui.estimateLabel.text
    minutes = math.ceil(seconds_per_slice * SLICES * POINTS / 60)
    assert f"about {minutes} min" in every and f"{POINTS} time points" in every, every

    ui.allTimePointsCheckBox.qobject.click()  # back to the selected time point
    assert ui.estimateLabel.text == one
