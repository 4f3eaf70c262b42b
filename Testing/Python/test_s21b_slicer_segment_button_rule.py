"""One rule decides the Segment button (:func:`SDSegLib.panel_state.segment_button_state`).

The panel set the button in two places: :func:`update_segment_button` (run, model, input) and
:func:`update_slices_and_estimate` (slices a local run would refuse), each with its own text. Both
now put the one rule's answer on the button; what they show is unchanged. The order of reasons:
the run, then the model, then the input, then the slices. Against ``Testing/Slicer/fake_slicer.py``.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

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
