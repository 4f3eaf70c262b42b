"""Segment is disabled, saying why, while the panel already shows that the chosen slices cannot be segmented.

With a first slice past the volume's last one (slice 50 of a 4-slice CT, e.g. kept from the
volume segmented before), the panel showed the refusal in red under the options, yet Segment
stayed enabled with the tooltip "Segment the input with the selected model"; pressing it only
brought the same refusal back as an error dialog ("SDSeg could not start."). Now Segment is
disabled and its tooltip gives the reason, and it is enabled again once the slices fit. SDSeg.py
on the real .ui against ``Testing/Slicer/fake_slicer.py`` (tiny random-weight model); Qt is the
real PySide6 (offscreen).
"""

from __future__ import annotations

from slicer_test_helpers import (  # noqa: F401 - app, engines, sdseg, tiny_model are pytest fixtures
    _add_volume, app, engines, sdseg, tiny_model,
)


def test_s20e2_segment_disabled_while_the_slice_range_is_empty(app, sdseg):
    fake, widget = sdseg
    ui, p = widget.ui, widget._parameterNode
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT", shape=(4, 12, 16)))
    app.processEvents()
    assert ui.segmentButton.enabled
    p.firstSlice = 50
    app.processEvents()
    assert "is empty" in ui.estimateLabel.text
    assert not ui.segmentButton.enabled, ui.segmentButton.toolTip  # before: enabled, "Segment the input ..."
    assert "is empty" in ui.segmentButton.toolTip and "4 slices" in ui.segmentButton.toolTip
    p.firstSlice = 1
    app.processEvents()
    assert ui.segmentButton.enabled and ui.segmentButton.toolTip == "Segment the input with the selected model"
    ui.segmentButton.click()  # and it runs
    assert widget._job is not None


def test_s20e2_empty_range_message_says_last_as_the_spin_box_does(app, sdseg):
    """The last-slice spin box shows "last" for -1; the refusal said "slice range 50..-1 is empty"."""
    fake, widget = sdseg
    ui, p = widget.ui, widget._parameterNode
    ui.inputVolumeSelector.setCurrentNode(_add_volume(fake, "CT", shape=(4, 12, 16)))
    p.firstSlice = 50
    app.processEvents()
    assert ui.lastSliceSpinBox.text == "last"
    for shown in (ui.estimateLabel.text, ui.segmentButton.toolTip):
        assert "-1" not in shown and "50 to the last" in shown, shown
        assert "from 0 to 3" in shown, shown  # and which slices there are to choose from
