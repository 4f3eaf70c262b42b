"""One rule decides the Segment button (:func:`SDSegLib.panel_state.segment_button_state`).

The panel set the button in two places: :func:`update_segment_button` (run, model, input) and
:func:`update_slices_and_estimate` (slices a local run would refuse), each with its own text. Both
now put the one rule's answer on the button; what they show is unchanged. The order of reasons:
the run, then the model, then the input, then the slices. Against ``Testing/Slicer/fake_slicer.py``.
"""

from __future__ import annotations

import html
import itertools
from types import SimpleNamespace

import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - puts SDSegLib on sys.path

MISSING = SimpleNamespace(text="tiny (not found)", tooltip="no folder /models/tiny", unreadable=False)
UNREADABLE_MODEL = SimpleNamespace(text="tiny (cannot be read)", tooltip="permission denied.", unreadable=True)


def test_s21b_the_segment_button_follows_one_rule_in_both_places(monkeypatch):
    import fake_slicer

    fake_slicer.install(monkeypatch)
    from SDSegLib.panel_state import segment_button_state, update_segment_button

    for running, has_input, model in itertools.product((True, False), (True, False), (None, MISSING, UNREADABLE_MODEL)):
        ui = SimpleNamespace(segmentButton=SimpleNamespace(text="", enabled=None, toolTip=""))
        update_segment_button(ui, running, has_input, model)
        text, enabled, tip = segment_button_state(running, has_input, model)
        assert (ui.segmentButton.text, ui.segmentButton.enabled, ui.segmentButton.toolTip) == (text, enabled, tip)
        assert enabled == (running or (has_input and model is None))  # the rule update_segment_button had
        assert text == ("Cancel" if running else "Segment")
        # the slices only matter when nothing else disables Segment
        assert segment_button_state(running, has_input, model, "slice 50 is past the last one.")[1] == (
            running or False)
        if not running and model is not None:
            assert segment_button_state(False, has_input, model, "x")[2] == tip  # the model's reason comes first
    text, enabled, tip = segment_button_state(False, True, None, "the range 50..3 is empty.")
    assert (text, enabled) == ("Segment", False) and tip.startswith("Segment cannot run: the range 50..3 is empty.")


def test_s21b_the_slices_check_puts_the_rules_answer_on_the_button(monkeypatch, manager, model_folder):
    """The second place, :func:`update_slices_and_estimate`, with the real logic on a real model folder and volume:
    a first slice past the last one disables Segment with the rule's text and tooltip for that reason."""
    import fake_slicer
    import numpy as np

    fake = fake_slicer.install(monkeypatch)
    from SDSegLogic.errors import SDSegError
    from SDSegLib.module_logic import SDSegModuleLogic
    from SDSegLib.panel_state import segment_button_state, update_segment_button, update_slices_and_estimate

    volume = fake.mrmlScene.AddNode(fake_slicer.FakeVolumeNode("CT", np.zeros((4, 8, 8), np.int16)))
    logic = SDSegModuleLogic(engineManager=manager)  # no engine starts: the slices are read from the grid
    p = SimpleNamespace(inputVolume=volume, modelId=str(model_folder), roiNode=None, firstSlice=50, lastSlice=60)
    ui = SimpleNamespace(segmentButton=SimpleNamespace(text="", enabled=None, toolTip=""),
                         remoteUrlLineEdit=SimpleNamespace(text=""), slicesLabel=SimpleNamespace(text=""),
                         estimateLabel=SimpleNamespace(text=""))
    update_segment_button(ui, False, True, None)
    assert ui.segmentButton.enabled is True  # the run, the model and the input allow it: the slices decide
    update_slices_and_estimate(ui, logic, p)
    with_range = (ui.segmentButton.text, ui.segmentButton.enabled, ui.segmentButton.toolTip)
    with pytest.raises(SDSegError) as refused:  # the reason a local run would give
        logic.sliceSelection(volume, str(model_folder), None, 50, 60)
    reason = str(refused.value)
    assert "50" in reason and with_range[:2] == ("Segment", False), with_range
    assert with_range == segment_button_state(False, True, None, reason)  # the one rule's answer for that reason
    assert html.escape(reason) in ui.estimateLabel.text  # the same reason shown in the panel
    assert manager.process is None  # decided without starting an engine
