"""A chosen output segmentation made by a script (no display node yet) shows the result in the views.

A segmentation node added by a script, ``slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")``,
has no display node until ``CreateDefaultDisplayNodes`` is called; without one, Slicer draws none of
its segments in the slice or 3D views. The module created display nodes only for the segmentation
it made itself: such a node chosen as the panel's output segmentation (or given to the
all-time-points run) got named, coloured segments that nobody could see, with no message. Now a
result written into an output without a display node gives it its default ones.

Against ``Testing/Slicer/fake_slicer.py`` (3D Slicer cannot be installed here; its segmentation
node has a display node only after ``CreateDefaultDisplayNodes``, as in Slicer), with the real
engine process and the tiny two-class model.
"""

from __future__ import annotations

import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - pytest fixtures; puts SDSegLib on sys.path

pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import (  # noqa: E402,F401 - app, engines, sdseg, tiny_model are pytest fixtures
    _add_volume, _idle_panel, _segment, _until, app, engines, sdseg, tiny_model,
)
from test_slicer_sequence import _logic, _sequence  # noqa: E402


def _script_made_segmentation(fake):
    """What ``slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)`` gives: no display node."""
    node = fake.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Script output")
    assert node.GetDisplayNode() is None
    return node


def test_a_script_made_output_chosen_in_the_panel_gets_a_display_node(app, sdseg):
    fake, widget = sdseg
    output = _script_made_segmentation(fake)
    widget.ui.outputSegmentationSelector.setCurrentNode(output)
    job = _segment(widget, _add_volume(fake, "CT"))
    assert _until(app, lambda: job.finished) and _idle_panel(widget) and not fake.errors, fake.errors
    assert output.GetSegmentation().GetNumberOfSegments() >= 1 and widget.ui.progressBar.value == 100
    display = output.GetDisplayNode()
    assert display is not None, "the result was written into a segmentation that Slicer cannot show (no display node)"
    assert display.GetSegmentVisibility(output.GetSegmentation().GetNthSegmentID(0))


def test_all_time_points_into_a_script_made_segmentation_show_too(monkeypatch, manager, model_folder):
    fake, logic = _logic(monkeypatch, manager)
    proxy, browser, volumes = _sequence(fake, shapes=((2, 32, 32),) * 2)
    output = _script_made_segmentation(fake)
    written = logic.process(proxy, output, model=str(model_folder), device="cpu", allTimePoints=True)
    assert written is output and browser.GetSequenceNode(output) is not None
    assert output.GetDisplayNode() is not None, "the browsed segmentation cannot be shown (no display node)"


def test_a_script_made_output_given_to_process_gets_a_display_node(monkeypatch, manager, model_folder):
    """The scripter's blocking call: ``logic.process(volume, outputSegmentation=<script-made node>)``."""
    fake, logic = _logic(monkeypatch, manager)
    proxy, browser, volumes = _sequence(fake, shapes=((2, 32, 32),))
    output = _script_made_segmentation(fake)
    written = logic.process(proxy, output, model=str(model_folder), device="cpu")
    assert written is output and output.GetSegmentation().GetNumberOfSegments() >= 1
    assert output.GetDisplayNode() is not None, "the result was written into a segmentation that Slicer cannot show"
